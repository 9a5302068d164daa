// Contact form: suggest help articles while the visitor types, and count what happens to the
// suggestions ("deflection": shown, clicked, or the visitor sent the request anyway).
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form[data-contact-form]");
    if (!form) { return; }
    var subject = form.querySelector("[name=subject]");
    var description = form.querySelector("[name=description]");
    var panel = document.getElementById("contact-suggestions");
    var list = panel.querySelector("ol");
    var visit = newVisitId();
    var shownReported = false;
    var timer = null;
    var lastQuery = "";
    var lang = document.documentElement.getAttribute("lang") || "zh-CN";

    function newVisitId() {
      var bytes = new Uint8Array(12);
      window.crypto.getRandomValues(bytes);
      return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
    }

    function report(kind, slug) {
      var body = JSON.stringify({ visit: visit, kind: kind, slug: slug || null, query: lastQuery.slice(0, 500) });
      var blob = new Blob([body], { type: "application/json" });
      if (!(navigator.sendBeacon && navigator.sendBeacon("/api/v1/help/deflection", blob))) {
        fetch("/api/v1/help/deflection", { method: "POST", headers: { "Content-Type": "application/json" }, body: body, keepalive: true });
      }
    }

    function query() {
      return (subject.value + " " + description.value).trim().slice(0, 200);
    }

    function render(results) {
      list.textContent = "";
      results.forEach(function (hit) {
        var item = document.createElement("li");
        var link = document.createElement("a");
        link.href = hit.url;
        link.textContent = hit.title;
        link.setAttribute("data-slug", hit.slug);
        link.addEventListener("click", function () { report("clicked", hit.slug); });
        item.appendChild(link);
        if (hit.snippet) {
          var small = document.createElement("small");
          small.className = "snippet";
          // The server escapes the article text; only its <mark> tags are markup.
          small.innerHTML = hit.snippet;
          item.appendChild(document.createElement("br"));
          item.appendChild(small);
        }
        list.appendChild(item);
      });
      panel.hidden = results.length === 0;
      if (results.length && !shownReported) { shownReported = true; report("shown"); }
    }

    function lookup() {
      var q = query();
      if (q === lastQuery) { return; }
      lastQuery = q;
      if (q.length < 2) { render([]); return; }
      fetch("/api/v1/help/search?limit=3&lang=" + encodeURIComponent(lang) + "&q=" + encodeURIComponent(q))
        .then(function (r) { return r.ok ? r.json() : { results: [] }; })
        // Articles first, then solved community threads (``related``).
        .then(function (data) { if (q === lastQuery) { render((data.results || []).concat(data.related || [])); } })
        .catch(function () { /* suggestions are a help, never a blocker */ });
    }

    [subject, description].forEach(function (input) {
      input.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(lookup, 250);
      });
    });
    form.addEventListener("submit", function () { report("submitted"); });
  });
})();

// The emergency-freeze option belongs to suspicious activity: show it for that topic (and
// whenever it is ticked); without scripts it is always shown.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var option = document.querySelector("[data-testid=contact-freeze-option]");
    var category = document.getElementById("f-category");
    if (!option || !category) { return; }
    var box = option.querySelector("input");
    function update() {
      option.hidden = category.value !== "suspicious_activity" && !box.checked;
    }
    category.addEventListener("change", update);
    update();
  });
})();
