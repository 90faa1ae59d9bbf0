/* Knowledge-base pages: the drop zone of the upload form, and a size check on pasted text.
   Without this file the plain multipart form works (choose files, press Upload); with it,
   dropping files on the zone or choosing them uploads at once, with a progress bar (htmx posts
   the form; the server answers with HX-Redirect back to the corpus page and its messages). */
(function () {
  "use strict";

  function formatSize(bytes) {
    if (bytes >= 1024 * 1024) return (bytes / (1024 * 1024)).toFixed(1) + " MB";
    if (bytes >= 1024) return Math.round(bytes / 1024) + " KB";
    return bytes + " bytes";
  }

  function hasFiles(event) {
    var types = event.dataTransfer && event.dataTransfer.types;
    return !!types && Array.prototype.indexOf.call(types, "Files") !== -1;
  }

  function setupUpload(form) {
    var zone = form.querySelector("[data-kb-drop]");
    var input = form.querySelector("input[type=file]");
    var picked = form.querySelector("[data-kb-picked]");
    var bar = form.querySelector("[data-kb-progress]");
    var error = form.querySelector("[data-kb-error]");
    var submitRow = form.querySelector("[data-kb-submit]");
    if (!zone || !input) return;
    var maxFiles = parseInt(form.getAttribute("data-max-files"), 10) || 20;
    var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10) || 0;
    var depth = 0;

    zone.classList.add("enhanced");
    if (submitRow) submitRow.hidden = true;

    function showError(text) {
      error.textContent = text;
      error.hidden = !text;
    }

    function listFiles(files) {
      picked.textContent = "";
      files.forEach(function (file) {
        var item = document.createElement("li");
        var name = document.createElement("span");
        name.className = "kb-picked-name";
        name.textContent = file.name;
        var size = document.createElement("span");
        size.className = "muted small";
        size.textContent = formatSize(file.size);
        item.appendChild(name);
        item.appendChild(size);
        if (maxBytes && file.size > maxBytes) {
          var warn = document.createElement("span");
          warn.className = "badge bad";
          warn.textContent = "over the " + formatSize(maxBytes) + " limit";
          item.appendChild(warn);
        }
        picked.appendChild(item);
      });
      picked.hidden = files.length === 0;
    }

    function upload() {
      var files = Array.prototype.slice.call(input.files || []);
      showError("");
      listFiles(files);
      if (!files.length) return;
      if (files.length > maxFiles) {
        // Refused here, before sending: the files are still chosen, nothing is lost.
        showError("You chose " + files.length + " files: upload at most " + maxFiles + " at a time.");
        return;
      }
      zone.classList.add("busy");
      zone.setAttribute("aria-busy", "true");
      bar.value = 0;
      bar.hidden = false;
      form.requestSubmit();
    }

    zone.addEventListener("dragenter", function (event) {
      if (!hasFiles(event)) return;
      event.preventDefault();
      depth += 1;
      zone.classList.add("over");
    });
    zone.addEventListener("dragover", function (event) {
      if (!hasFiles(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    });
    zone.addEventListener("dragleave", function () {
      depth = Math.max(0, depth - 1);
      if (!depth) zone.classList.remove("over");
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      event.stopPropagation();
      depth = 0;
      zone.classList.remove("over");
      if (!event.dataTransfer || !event.dataTransfer.files.length) return;
      input.files = event.dataTransfer.files;
      upload();
    });
    input.addEventListener("change", upload);

    form.addEventListener("htmx:xhr:progress", function (event) {
      var detail = event.detail || {};
      if (detail.lengthComputable && detail.total) bar.value = Math.round((detail.loaded / detail.total) * 100);
    });
    function failed(text) {
      zone.classList.remove("busy");
      zone.removeAttribute("aria-busy");
      bar.hidden = true;
      showError(text);
    }
    form.addEventListener("htmx:responseError", function (event) {
      var status = event.detail && event.detail.xhr ? event.detail.xhr.status : "";
      failed("The upload was refused (HTTP " + status + "). Nothing was added: try again, or fewer files at a time.");
    });
    form.addEventListener("htmx:sendError", function () {
      failed("The upload did not reach the server. Nothing was added: check the connection and try again.");
    });
  }

  // A file dropped next to the zone must not make the browser leave the page to show it.
  function guardPage() {
    ["dragover", "drop"].forEach(function (type) {
      window.addEventListener(type, function (event) {
        if (hasFiles(event) && !event.defaultPrevented) event.preventDefault();
      });
    });
  }

  // Pasted text beyond the limit would be refused before reaching the page: say so here, keep the text.
  function setupPaste(form) {
    var area = form.querySelector("textarea[data-max-bytes]");
    if (!area) return;
    var limit = parseInt(area.getAttribute("data-max-bytes"), 10) || 0;
    form.addEventListener("submit", function (event) {
      var size = new TextEncoder().encode(area.value).length;
      var old = form.querySelector(".kb-paste-error");
      if (old) old.remove();
      if (!limit || size <= limit) return;
      event.preventDefault();
      var message = document.createElement("div");
      message.className = "errorlist kb-paste-error";
      message.setAttribute("role", "alert");
      message.textContent = "The text is " + formatSize(size) + "; the limit is " + formatSize(limit) +
        ". Split it, or save it as a .txt file and upload that.";
      area.insertAdjacentElement("afterend", message);
      area.focus();
    });
  }

  function init() {
    var forms = document.querySelectorAll("form[data-kb-upload]");
    Array.prototype.forEach.call(forms, setupUpload);
    if (forms.length) guardPage();
    Array.prototype.forEach.call(document.querySelectorAll("form[data-kb-paste]"), setupPaste);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
