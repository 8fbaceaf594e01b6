// The "On this page" list of each page, made from the page's own h2 and h3
// headings. pkgdown fetches a script from a CDN for this; the keras3r site
// loads nothing from the network (templates/head.html), so it is done here,
// with Bootstrap's scrollspy (served with the site) marking where one is.
document.addEventListener("DOMContentLoaded", function () {
  var toc = document.getElementById("toc");
  if (!toc) return;
  var headings = document.querySelectorAll("main h2[id], main h3[id]");
  var list = document.createElement("ul");
  list.className = "nav nav-pills flex-column";
  var current = list;
  headings.forEach(function (heading) {
    // Skipped: headings marked so, and those of the language not shown (lang.js).
    if (heading.hasAttribute("data-toc-skip") || heading.closest("[hidden]")) return;
    var link = document.createElement("a");
    link.className = "nav-link";
    link.href = "#" + heading.id;
    // The heading's text without its anchor icon.
    link.textContent = Array.from(heading.childNodes)
      .filter(function (node) { return !(node.classList && node.classList.contains("anchor")); })
      .map(function (node) { return node.textContent; })
      .join("").trim();
    var item = document.createElement("li");
    item.appendChild(link);
    if (heading.tagName === "H2") {
      list.appendChild(item);
      current = document.createElement("ul");
      current.className = "nav nav-pills flex-column";
      item.appendChild(current);
    } else {
      current.appendChild(item);
    }
  });
  list.querySelectorAll("ul").forEach(function (sub) {
    if (!sub.children.length) sub.remove();
  });
  if (!list.children.length) {
    toc.remove();
    return;
  }
  toc.appendChild(list);
  if (window.bootstrap && bootstrap.ScrollSpy) {
    var navbar = document.querySelector("nav.navbar");
    new bootstrap.ScrollSpy(document.body, {
      target: "#toc",
      offset: (navbar ? navbar.offsetHeight : 0) + 1
    });
  }
});
