// Search with no network: pkgdown's own search (Fuse over the site's text,
// autocomplete.js for the list, mark.js for the hits on the page opened),
// with the scripts served from the site and the index in search-index.js
// (tools/build_site.py), which a page opened from file:// can load where it
// could not fetch pkgdown's search.json. Hits are the reader's language's.
(function () {
  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  var fuse = null;
  function index() {
    if (!fuse) {
      fuse = new Fuse(window.keras3rSearchIndex || [], {
        keys: [
          { name: "name", weight: 2 }, { name: "title", weight: 2 },
          { name: "what", weight: 1 }, { name: "text", weight: 1 }
        ],
        ignoreLocation: true,
        threshold: 0.1,
        includeScore: true
      });
    }
    return fuse;
  }

  // The best section of each page that matches, best page first.
  function search(query) {
    var lang = window.keras3rLanguage || "r";
    var seen = {};
    return index().search(query)
      .filter(function (hit) {
        var item = hit.item;
        if (hit.score > 0.75 || (item.lang && item.lang !== lang) || seen[item.path]) return false;
        seen[item.path] = true;
        return true;
      })
      .slice(0, 20)
      .map(function (hit) { return hit.item; });
  }
  window.keras3rSearch = search;

  document.addEventListener("DOMContentLoaded", function () {
    var input = document.getElementById("search-input");
    var root = document.documentElement.getAttribute("data-site-root") || "";
    var lang = window.keras3rLanguage || "r";
    var query = "";
    if (input && window.jQuery && jQuery.fn.autocomplete) {
      jQuery(input).autocomplete({ autoselect: true, hint: false, minLength: 2 }, [{
        name: "content",
        source: function (q, callback) {
          query = q;
          var items = search(q);
          callback(items.length ? items : [{ none: true }]);
        },
        templates: {
          suggestion: function (s) {
            if (s.none) return '<div class="search-details">No results found.</div>';
            var where = s.what === s.title ? "" : " &gt; " + escapeHtml(s.what);
            var name = s.name ? "<code>" + escapeHtml(s.name) + "</code> " : "";
            return escapeHtml(s.dir) + ' &gt; <div class="search-details">' + name +
              escapeHtml(s.title) + "</div>" + where;
          }
        }
      }]).on("autocomplete:selected", function (event, s) {
        if (s.none) return;
        window.location.href = root + s.path + "?q=" + encodeURIComponent(query) +
          (lang === "r" ? "" : "&lang=" + lang) + (s.id ? "#" + s.id : "");
      });
    }
    var toMark = new URLSearchParams(window.location.search).get("q");
    if (toMark && window.Mark) {
      new Mark("main#main").mark(toMark, {
        accuracy: { value: "complementary", limiters: [",", ".", ":", "/"] }
      });
    }
  });
})();
