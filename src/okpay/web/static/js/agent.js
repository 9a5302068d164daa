// Agent console: "select all" for bulk actions on the queue. Everything else works without it.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-select-all]").forEach(function (box) {
      box.addEventListener("change", function () {
        document.querySelectorAll("input[name=numbers]").forEach(function (row) {
          row.checked = box.checked;
        });
      });
    });
  });
})();
