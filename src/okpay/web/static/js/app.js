// OKPay page behaviour. No inline scripts anywhere (the CSP forbids them): everything hooks
// on data- attributes here.
(function () {
  "use strict";

  // ------------------------------------------------------------------ typed text survives
  // What someone typed is kept in this tab's sessionStorage when they submit a form or
  // switch language, keyed by the page the browser will come back to, and filled in again
  // there: after switching language on a page reached by posting a form (the server sends
  // the language switch back to the form's page), or after signing in again when the session
  // had ended. Never kept: passwords, codes, card numbers, tokens, files. Drafts are dropped
  // as soon as any other page loads (a successful result), except on the pages of the
  // detour (sign-in, the "session ended" page).
  var DRAFT_PREFIX = "okpay-draft:";
  var NEVER_KEEP = /pass|otp|code|token|csrf|secret|idempotency|card_number|cvc|cvv|pin|quote/i;
  var RESTORABLE = /^(text|email|tel|search|url|number|date|month|textarea|select-one|checkbox|radio)$/;

  function here() { return window.location.pathname + window.location.search; }

  function keepable(el) {
    if (!el.name || el.disabled) { return false; }
    if (NEVER_KEEP.test(el.name)) { return false; }
    var type = (el.type || "").toLowerCase();
    if (type === "password" || type === "file" || type === "submit" || type === "button") { return false; }
    var auto = (el.getAttribute("autocomplete") || "").toLowerCase();
    if (/password|one-time-code|cc-/.test(auto)) { return false; }
    return true;
  }

  function collect(forms) {
    var values = {};
    var count = 0;
    forms.forEach(function (form) {
      if (form.hasAttribute("data-no-draft") || form.hasAttribute("data-lang-form")) { return; }
      Array.prototype.forEach.call(form.elements, function (el) {
        if (!keepable(el)) { return; }
        var type = (el.type || "").toLowerCase();
        var value;
        if (type === "checkbox" || type === "radio") {
          if (!el.checked) { return; }
          value = el.value;
        } else {
          value = el.value;
        }
        if (value === "" || Object.prototype.hasOwnProperty.call(values, el.name)) { return; }
        values[el.name] = value;
        count += 1;
      });
    });
    return count ? values : null;
  }

  // ``armed``: fill it in when its page next loads. A language switch arms its draft at once;
  // a submitted form's draft is armed only by a detour page (the session ended, sign-in),
  // so a form that simply worked never gets its old text back.
  function saveDraft(path, forms, armed) {
    var values = collect(forms);
    if (!values) { return; }
    try {
      sessionStorage.setItem(DRAFT_PREFIX + path, JSON.stringify({ armed: armed, values: values }));
    } catch (e) { /* full or off */ }
  }

  function eachDraft(fn) {
    try {
      for (var i = sessionStorage.length - 1; i >= 0; i--) {
        var key = sessionStorage.key(i);
        if (key && key.indexOf(DRAFT_PREFIX) === 0) { fn(key); }
      }
    } catch (e) { /* storage off */ }
  }

  function restoreInto(values) {
    document.querySelectorAll("form").forEach(function (form) {
      if (form.hasAttribute("data-no-draft") || form.hasAttribute("data-lang-form")) { return; }
      Array.prototype.forEach.call(form.elements, function (el) {
        if (!keepable(el) || !Object.prototype.hasOwnProperty.call(values, el.name)) { return; }
        var type = (el.type || "").toLowerCase();
        // Hidden fields are read (a review step keeps the typed values in them) but never
        // written: they carry what the server decided.
        if (!RESTORABLE.test(type)) { return; }
        if (type === "checkbox" || type === "radio") {
          el.checked = el.value === values[el.name];
        } else if (type === "select-one") {
          var known = Array.prototype.some.call(el.options, function (o) { return o.value === values[el.name]; });
          if (known) { el.value = values[el.name]; }
        } else {
          el.value = values[el.name];
        }
      });
    });
  }

  function restoreDraft() {
    var detour = document.body.hasAttribute("data-keep-drafts") ||
      /^\/login(\/|$)/.test(window.location.pathname);
    if (detour) {
      eachDraft(function (key) {
        try {
          var draft = JSON.parse(sessionStorage.getItem(key));
          draft.armed = true;
          sessionStorage.setItem(key, JSON.stringify(draft));
        } catch (e) { sessionStorage.removeItem(key); }
      });
      return;
    }
    var draft = null;
    try { draft = JSON.parse(sessionStorage.getItem(DRAFT_PREFIX + here()) || "null"); } catch (e) { draft = null; }
    if (draft && draft.armed && draft.values) { restoreInto(draft.values); }
    eachDraft(function (key) { sessionStorage.removeItem(key); });
  }

  // ------------------------------------------------------------------ page start
  document.addEventListener("DOMContentLoaded", function () {
    // Language switcher: keep what was typed (for the page the switch goes back to), then
    // submit as soon as a language is picked.
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () {
        var form = select.form;
        if (form.hasAttribute("data-lang-form")) {
          var next = form.querySelector("input[name=next]");
          saveDraft(next ? next.value : here(), document.querySelectorAll("form"), true);
        }
        form.submit();
      });
    });
    // Every posted form: keep what was typed until the answer comes (if the session ended,
    // it is filled in again after signing in).
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (!(form instanceof HTMLFormElement)) { return; }
      if ((form.getAttribute("method") || "get").toLowerCase() !== "post") { return; }
      if (form.hasAttribute("data-no-draft") || form.hasAttribute("data-lang-form")) { return; }
      saveDraft(here(), [form], false);
    });
    restoreDraft();
    // The offline page shows itself in the language last used here.
    try { localStorage.setItem("okpay-lang", document.documentElement.lang); } catch (e) { /* off */ }
  });

  // ------------------------------------------------------------ scrolling boxes by keyboard
  // A wide table (or a long list in a side box) that scrolls inside its box can be reached
  // with the keyboard: it takes focus while it scrolls and is named after its heading.
  function markScrollRegions() {
    document.querySelectorAll(".table-wrap, [data-scroll-region]").forEach(function (box) {
      var scrolls = box.scrollWidth > box.clientWidth + 1 || box.scrollHeight > box.clientHeight + 1;
      if (scrolls && !box.hasAttribute("tabindex")) {
        box.setAttribute("tabindex", "0");
        box.setAttribute("data-scroll-focus", "");
        if (!box.hasAttribute("role")) { box.setAttribute("role", "region"); }
        if (!box.hasAttribute("aria-label") && !box.hasAttribute("aria-labelledby")) {
          var table = box.querySelector("table");
          var caption = table && table.querySelector("caption");
          var section = box.closest("section, article, aside");
          var heading = caption || (section && section.querySelector("h1, h2, h3, h4"));
          var name = heading ? heading.textContent.trim() : document.title;
          box.setAttribute("aria-label", name);
        }
      } else if (!scrolls && box.hasAttribute("data-scroll-focus")) {
        box.removeAttribute("tabindex");
        box.removeAttribute("data-scroll-focus");
      }
    });
  }
  document.addEventListener("DOMContentLoaded", markScrollRegions);
  window.addEventListener("resize", markScrollRegions);
  document.addEventListener("htmx:afterSettle", markScrollRegions);

  // htmx requests carry the page's CSRF token.
  document.addEventListener("htmx:configRequest", function (event) {
    var token = document.body.getAttribute("data-csrf");
    if (token) { event.detail.headers["X-CSRF-Token"] = token; }
  });

  // Installable app: the service worker shows an offline page when a page cannot be
  // reached (it stores only the static shell, never account data).
  if ("serviceWorker" in navigator && window.isSecureContext) {
    window.addEventListener("load", function () {
      navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () { /* optional */ });
    });
  }
})();
