// OKPay page behaviour. No inline scripts anywhere (the CSP forbids them): everything hooks
// on data- attributes here.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    // Language switcher: submit as soon as a language is picked.
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  });
  // htmx requests carry the page's CSRF token.
  document.addEventListener("htmx:configRequest", function (event) {
    var token = document.body.getAttribute("data-csrf");
    if (token) { event.detail.headers["X-CSRF-Token"] = token; }
  });
})();
