// In-app feedback. On every signed-in page the Feedback button takes a screenshot of the page
// (html-to-image, loaded only when pressed) and keeps it in sessionStorage; the feedback form
// then attaches it to its file input as screenshot.png, with a preview the user can remove or
// replace by an upload. No inline scripts (CSP): everything hooks on data- attributes.
(function () {
  "use strict";
  var STORE = "okpay-feedback";
  var LIBRARY = "/static/vendor/html-to-image/html-to-image.js";

  function loadLibrary() {
    if (window.htmlToImage) { return Promise.resolve(window.htmlToImage); }
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = LIBRARY;
      script.onload = function () { resolve(window.htmlToImage); };
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }

  function capture(button) {
    return loadLibrary().then(function (lib) {
      var body = document.body;
      return lib.toPng(body, {
        pixelRatio: 1,
        backgroundColor: "#ffffff",
        width: body.scrollWidth,
        height: Math.min(body.scrollHeight, 4000),
        // Leave out the button itself, and what the browser never draws (noscript, scripts).
        filter: function (node) {
          return node !== button && !(node.tagName && /^(NOSCRIPT|SCRIPT)$/.test(node.tagName));
        }
      });
    });
  }

  function withTimeout(promise, ms) {
    return Promise.race([promise, new Promise(function (_r, reject) { setTimeout(reject, ms); })]);
  }

  function onButton(button) {
    button.addEventListener("click", function (event) {
      event.preventDefault();
      if (button.getAttribute("aria-busy") === "true") { return; }
      button.setAttribute("aria-busy", "true");
      var page = window.location.pathname + window.location.search;
      var go = function () { window.location.href = button.href; };
      withTimeout(capture(button), 10000).then(function (shot) {
        try {
          sessionStorage.setItem(STORE, JSON.stringify({ shot: shot, page: page }));
        } catch (e) { /* too large for storage: the form still offers an upload */ }
        go();
      }, go);
    });
  }

  function dataUrlToFile(url, name) {
    var parts = url.split(",");
    var binary = atob(parts[1]);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return new File([bytes], name, { type: "image/png" });
  }

  function onForm(form) {
    var input = form.querySelector("input[name=screenshot]");
    var preview = form.querySelector("[data-feedback-preview]");
    var image = preview.querySelector("img");
    var remove = preview.querySelector("[data-feedback-remove]");

    function show(url) {
      image.src = url;
      preview.hidden = false;
    }
    function clear() {
      input.value = "";
      image.removeAttribute("src");
      preview.hidden = true;
    }

    var saved = null;
    try { saved = JSON.parse(sessionStorage.getItem(STORE) || "null"); } catch (e) { saved = null; }
    sessionStorage.removeItem(STORE);
    if (saved && saved.page) {
      var page = form.querySelector("input[name=page]");
      if (!page.value) { page.value = saved.page; }
    }
    if (saved && typeof saved.shot === "string" && saved.shot.indexOf("data:image/png;base64,") === 0) {
      try {
        var transfer = new DataTransfer();
        transfer.items.add(dataUrlToFile(saved.shot, "screenshot.png"));
        input.files = transfer.files;
        show(saved.shot);
      } catch (e) { /* an old browser: the upload field is still there */ }
    }
    remove.addEventListener("click", clear);
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      if (!file || file.type.indexOf("image/") !== 0) { preview.hidden = true; return; }
      var reader = new FileReader();
      reader.onload = function () { show(String(reader.result)); };
      reader.readAsDataURL(file);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("a[data-feedback-button]").forEach(onButton);
    var form = document.querySelector("form[data-feedback-form]");
    if (form) { onForm(form); }
  });
})();
