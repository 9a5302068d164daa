/* Wallet pages: copy buttons ([data-copy]) for bank details and references. The buttons are
   rendered hidden and shown here, so a page without script shows no dead buttons. */
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "copy-scratch";
      document.body.appendChild(area);
      area.select();
      var done = false;
      try {
        done = document.execCommand("copy");
      } catch (err) {
        done = false;
      }
      document.body.removeChild(area);
      if (done) {
        resolve();
      } else {
        reject(new Error("copy refused"));
      }
    });
  }

  function announce(button, text) {
    var section = button.closest("section") || document;
    var status = section.querySelector("[data-copy-status]");
    if (status) {
      status.textContent = text;
    }
  }

  function show(button, text, copied) {
    if (!button.dataset.label) {
      button.dataset.label = button.textContent;
    }
    button.textContent = text;
    button.classList.toggle("copied", copied);
    announce(button, text);
    window.clearTimeout(button._copyTimer);
    button._copyTimer = window.setTimeout(function () {
      button.textContent = button.dataset.label;
      button.classList.remove("copied");
    }, 2500);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) {
      return;
    }
    event.preventDefault();
    copyText(button.dataset.copy).then(
      function () {
        button.dataset.copiedValue = button.dataset.copy;
        show(button, button.dataset.copiedLabel, true);
      },
      function () {
        show(button, button.dataset.failedLabel, false);
      }
    );
  });

  function reveal() {
    document.querySelectorAll("button[data-copy][hidden]").forEach(function (button) {
      button.hidden = false;
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", reveal);
  } else {
    reveal();
  }
})();
