/* Small progressive enhancements for the dashboard. No inline handlers anywhere (CSP-friendly):
   behaviour hangs off data-* attributes. Every page works without this file. */
(function () {
  "use strict";

  // <button data-copy="input-id">: copy that input's value to the clipboard.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var label = button.textContent;
    var done = function () {
      button.textContent = "Copied";
      window.setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.value || source.textContent).then(done);
    } else {
      source.select();
      document.execCommand("copy");
      done();
    }
  });

  // <form data-confirm="Really?">: ask before submitting a destructive action.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);

  // <select data-autosubmit>: submit its form on change (the filter bar without a click).
  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field.hasAttribute && field.hasAttribute("data-autosubmit") && field.form && !window.htmx) {
      field.form.requestSubmit();
    }
  });

  // The connect-number form: show the new-account fields only when no existing account is chosen.
  function syncAccountFields() {
    var select = document.getElementById("id_account");
    var block = document.getElementById("new-account");
    if (!select || !block) return;
    block.hidden = select.value !== "";
  }
  document.addEventListener("change", function (event) {
    if (event.target && event.target.id === "id_account") syncAccountFields();
  });
  document.addEventListener("DOMContentLoaded", syncAccountFields);
})();
