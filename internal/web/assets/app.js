// Progressive enhancement only: every page works without this file.
// Copy buttons stay hidden unless this script runs.
(function () {
  "use strict";
  function copy(input) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(input.value);
    }
    // Plain-http sites have no async clipboard; select and copy instead.
    input.focus();
    input.select();
    return document.execCommand("copy") ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("button[data-copy]").forEach(function (btn) {
      var input = document.getElementById(btn.getAttribute("data-copy"));
      if (!input) return;
      var status = document.createElement("span");
      status.className = "copy-status";
      status.setAttribute("role", "status");
      btn.insertAdjacentElement("afterend", status);
      btn.hidden = false;
      btn.addEventListener("click", function () {
        copy(input).then(
          function () { status.textContent = "Copied"; },
          function () { input.select(); status.textContent = "Press Ctrl+C to copy"; }
        );
      });
    });
  });
})();
