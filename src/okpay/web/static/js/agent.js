// Agent console: "select all" on the queue, keyboard shortcuts (j/k, Enter/o, r, n, a, /, ?),
// canned responses put where the cursor is, and the conversation opened at its newest
// message. Everything works without it; it only saves the agent clicks.
(function () {
  "use strict";

  // ---------------------------------------------------------------- text at the caret

  // Put ``text`` where the cursor is in ``box`` (or, when the agent never put it there, after
  // what is already written, as a new paragraph), keeping the browser's undo history.
  function insertAtCaret(box, text, hadCaret) {
    var start = hadCaret ? box.selectionStart : box.value.length;
    var end = hadCaret ? box.selectionEnd : box.value.length;
    var before = box.value.slice(0, start), after = box.value.slice(end);
    var lead = "";
    if (!hadCaret && before.trim()) { lead = /\n\n$/.test(before) ? "" : (/\n$/.test(before) ? "\n" : "\n\n"); }
    else if (before && !/\s$/.test(before)) { lead = " "; }
    var tail = after && !/^\s/.test(after) ? " " : "";
    var piece = lead + text + tail;
    box.focus();
    box.setSelectionRange(start, end);
    var done = false;
    try { done = document.execCommand("insertText", false, piece); } catch (e) { done = false; }
    if (!done || box.value !== before + piece + after) {
      box.value = before + piece + after;
    }
    var caret = start + piece.length;
    box.setSelectionRange(caret, caret);
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }

  // Remember where the cursor was in each box, since choosing from a list moves the focus.
  function trackCaret(box) {
    function keep() { box.setAttribute("data-caret", box.selectionStart + "," + box.selectionEnd); }
    ["keyup", "click", "select", "input", "blur"].forEach(function (name) { box.addEventListener(name, keep); });
  }

  function restoreCaret(box) {
    // Still in the box (the list was used without leaving it): its caret is where it is now.
    if (document.activeElement === box) { return true; }
    var saved = (box.getAttribute("data-caret") || "").split(",");
    if (saved.length !== 2) { return false; }
    box.focus();
    box.setSelectionRange(parseInt(saved[0], 10) || 0, parseInt(saved[1], 10) || 0);
    return true;
  }

  function cannedPickers() {
    document.querySelectorAll("select[data-canned-url]").forEach(function (select) {
      var box = document.querySelector(select.getAttribute("data-canned-target"));
      if (!box) { return; }
      trackCaret(box);
      select.addEventListener("change", function () {
        if (!select.value) { return; }
        var url = select.getAttribute("data-canned-url") + "?canned_id=" + encodeURIComponent(select.value);
        fetch(url, { credentials: "same-origin", headers: { "Accept": "text/plain" } })
          .then(function (response) { return response.ok ? response.text() : ""; })
          .then(function (text) {
            select.value = "";
            if (!text) { return; }
            insertAtCaret(box, text, restoreCaret(box));
          });
      });
    });
  }

  // ---------------------------------------------------------------- queue

  function selectAll() {
    document.querySelectorAll("input[data-select-all]").forEach(function (box) {
      box.addEventListener("change", function () {
        document.querySelectorAll("input[name=numbers]").forEach(function (row) {
          row.checked = box.checked;
        });
      });
    });
  }

  var current = -1;

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr[data-queue-row]")); }

  function highlight(index) {
    var all = rows();
    if (!all.length) { return; }
    index = Math.max(0, Math.min(all.length - 1, index));
    all.forEach(function (row) { row.classList.remove("row-current"); row.removeAttribute("aria-current"); });
    all[index].classList.add("row-current");
    all[index].setAttribute("aria-current", "true");
    all[index].scrollIntoView({ block: "nearest" });
    current = index;
  }

  function currentRow() { var all = rows(); return current >= 0 ? all[current] : null; }

  // ---------------------------------------------------------------- shortcuts

  function typing(target) {
    if (!target || !target.tagName) { return false; }
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  function focusBox(selector, openFirst) {
    var box = document.querySelector(selector);
    if (!box) { return false; }
    if (openFirst) {
      var holder = box.closest("details");
      if (holder) { holder.open = true; }
    }
    box.focus();
    box.scrollIntoView({ block: "nearest" });
    return true;
  }

  function shortcuts() {
    var help = document.querySelector("dialog[data-shortcut-help]");
    document.querySelectorAll("[data-shortcut-open]").forEach(function (button) {
      button.addEventListener("click", function () { if (help && help.showModal) { help.showModal(); } });
    });
    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) { return; }
      if (typing(event.target)) { return; }
      if (help && help.open) { return; }  // the dialog handles its own keys (Esc closes)
      var key = event.key, row;
      if (key === "?") {
        if (help && help.showModal) { event.preventDefault(); help.showModal(); }
      } else if (key === "j" || key === "k") {
        if (!rows().length) { return; }
        event.preventDefault();
        highlight(current < 0 ? 0 : current + (key === "j" ? 1 : -1));
      } else if (key === "Enter" || key === "o") {
        row = currentRow();
        if (!row) { return; }
        var link = row.querySelector("a[data-queue-open]");
        if (link) { event.preventDefault(); location.href = link.href; }
      } else if (key === "r") {
        if (focusBox("#reply-body, #chat-input", false)) { event.preventDefault(); }
      } else if (key === "n") {
        if (focusBox("#note-form textarea", true)) { event.preventDefault(); }
      } else if (key === "a") {
        row = currentRow();
        var take = row ? row.querySelector("[data-queue-take]") : document.querySelector("[data-shortcut=a]");
        if (take) { event.preventDefault(); take.click(); }
      } else if (key === "/") {
        var search = document.querySelector("[data-shortcut-search]");
        if (search) { event.preventDefault(); search.focus(); search.select(); }
      }
    });
  }

  // ---------------------------------------------------------------- conversation

  function newestFirstInView() {
    var thread = document.querySelector("[data-thread]");
    if (thread && thread.scrollHeight > thread.clientHeight) {
      thread.scrollTop = thread.scrollHeight;
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    selectAll();
    cannedPickers();
    shortcuts();
    newestFirstInView();
  });
})();
