// The offline page: show it in the language of the last page seen (app.js remembers it),
// and try the page again when asked or when the connection comes back.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var wanted = null;
    try { wanted = localStorage.getItem("okpay-lang"); } catch (e) { wanted = null; }
    var sections = document.querySelectorAll("[data-offline-lang]");
    var match = null;
    sections.forEach(function (s) { if (s.getAttribute("data-offline-lang") === wanted) { match = s; } });
    if (match) {
      sections.forEach(function (s) { s.hidden = s !== match; });
      document.documentElement.lang = wanted;
      var heading = match.querySelector("h1");
      if (heading) { document.title = heading.textContent + " · OKPay"; }
    }
    document.querySelectorAll("[data-offline-retry]").forEach(function (button) {
      button.addEventListener("click", function () { window.location.reload(); });
    });
    window.addEventListener("online", function () { window.location.reload(); });
  });
})();
