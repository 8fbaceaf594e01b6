// The language the reader reads the site in: R or Python. Every page holds
// both; the blocks that differ carry data-lang="r" or data-lang="py", and
// the other language's are hidden. The choice comes from ?lang= (the switch
// in the navbar, a shared link), else from the last choice, kept in
// localStorage; R by default. Internal links carry a non-default choice too,
// because a browser may keep nothing for pages opened from file://.
(function () {
  var KEY = "keras3r-lang";
  var LANGUAGES = { r: "R", py: "Python" };
  var ARTICLES = { r: "articles/keras3r.html", py: "articles/python.html" };

  function stored() {
    try { return window.localStorage.getItem(KEY); } catch (e) { return null; }
  }
  function store(lang) {
    try { window.localStorage.setItem(KEY, lang); } catch (e) { /* file:// without storage */ }
  }

  var asked = new URLSearchParams(window.location.search).get("lang");
  var lang = "r";
  if (LANGUAGES.hasOwnProperty(asked)) {
    lang = asked;
    store(lang);
  } else if (LANGUAGES.hasOwnProperty(stored())) {
    lang = stored();
  }
  window.keras3rLanguage = lang;
  // Set before the body is drawn, so that the other language never shows.
  document.documentElement.setAttribute("data-reader-lang", lang);

  function internal(href) {
    return href && !/^([a-z][a-z0-9+.-]*:|\/\/|#)/i.test(href);
  }
  function withLanguage(href) {
    var hash = href.indexOf("#") >= 0 ? href.slice(href.indexOf("#")) : "";
    var path = href.slice(0, href.length - hash.length);
    if (/[?&]lang=/.test(path)) return href;
    return path + (path.indexOf("?") >= 0 ? "&" : "?") + "lang=" + lang + hash;
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-lang]").forEach(function (block) {
      block.hidden = block.getAttribute("data-lang") !== lang;
    });
    document.querySelectorAll("[data-lang-switch]").forEach(function (button) {
      var to = button.getAttribute("data-lang-switch");
      button.href = "?lang=" + to + window.location.hash;
      button.classList.toggle("active", to === lang);
      button.setAttribute("aria-pressed", String(to === lang));
    });
    // "Get started" leads to the reader's language's article.
    var root = document.documentElement.getAttribute("data-site-root") || "";
    document.querySelectorAll("nav.navbar a.nav-link").forEach(function (link) {
      var href = link.getAttribute("href") || "";
      if (href === root + ARTICLES.r || href === root + ARTICLES.py) {
        link.setAttribute("href", root + ARTICLES[lang]);
      }
    });
    if (lang === "r") return;
    document.querySelectorAll("a[href]").forEach(function (link) {
      var href = link.getAttribute("href");
      if (link.hasAttribute("data-lang-switch") || !internal(href)) return;
      link.setAttribute("href", withLanguage(href));
    });
  });
})();
