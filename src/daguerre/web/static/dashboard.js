/* Daguerre dashboard: the one script. Streams a chosen file to /ui/images/{id}/upload with
   XMLHttpRequest (raw body, no multipart) and shows its progress. Everything else works without it. */
(function () {
  "use strict";

  function human(n) {
    var units = ["bytes", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  }

  function parse(text) {
    try { return JSON.parse(text); } catch (e) { return {}; }
  }

  function setup(form) {
    var file = form.querySelector("input[type=file]");
    var box = form.querySelector(".upload-progress");
    var bar = form.querySelector("progress");
    var text = form.querySelector(".upload-text");
    var err = form.querySelector(".upload-error");
    var button = form.querySelector("button[type=submit]");
    var field = form.querySelector("input[name=csrf_token]");
    var csrf = form.dataset.csrf || (field && field.value);

    function busy(on) { button.disabled = on; file.disabled = on; form.setAttribute("aria-busy", on ? "true" : "false"); }
    function fail(message, link) {
      box.hidden = true;
      text.textContent = "";
      err.textContent = message;
      if (link && link.split("?")[0] !== window.location.pathname) {
        var a = document.createElement("a");
        a.href = link; a.textContent = " Open the image.";
        err.appendChild(a);
      }
      err.hidden = false;
      form.dataset.state = "failed";
      busy(false);
    }
    function show(loaded, total) {
      var pct = total ? Math.floor(loaded * 100 / total) : 0;
      bar.value = pct;
      bar.textContent = pct + "%";
      text.textContent = pct + "% (" + human(loaded) + " of " + human(total) + ")";
    }

    function upload(url, detailUrl, chosen) {
      box.hidden = false;
      form.dataset.state = "uploading";
      show(0, chosen.size);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.upload.onprogress = function (e) {
        if (!e.lengthComputable) return;
        show(Math.min(e.loaded, e.total - 1), e.total); /* 100% only once the server has it all */
        if (e.loaded >= e.total) text.textContent = "Sent; checking and storing the image…";
      };
      xhr.onload = function () {
        var body = parse(xhr.responseText);
        if (xhr.status >= 200 && xhr.status < 300) {
          show(chosen.size, chosen.size);
          text.textContent = "100% — upload complete (" + human(chosen.size) + ", status " + body.status + ").";
          form.dataset.state = "done";
          setTimeout(function () { window.location.assign(body.detail_url || detailUrl); }, 800);
        } else {
          fail("Upload failed (" + xhr.status + "): " + (body.message || xhr.statusText), detailUrl);
        }
      };
      xhr.onerror = function () { fail("The connection broke during the upload.", detailUrl); };
      xhr.send(chosen);
    }

    form.addEventListener("submit", function (event) {
      var chosen = file.files && file.files[0];
      err.hidden = true;
      if (form.dataset.upload === "existing") {
        event.preventDefault();
        if (!chosen) { fail("Choose a file to upload."); return; }
        busy(true);
        upload(form.dataset.uploadUrl, form.dataset.detailUrl, chosen);
        return;
      }
      if (!chosen) return; /* plain create: let the browser post the form */
      event.preventDefault();
      busy(true);
      var fields = new URLSearchParams(new FormData(form));
      fetch(form.action, {
        method: "POST", body: fields, credentials: "same-origin",
        headers: { "Accept": "application/json" }
      }).then(function (r) {
        return r.text().then(function (t) { return { ok: r.ok, status: r.status, body: parse(t) }; });
      }).then(function (res) {
        if (!res.ok) { fail("The image was not created (" + res.status + "): " + (res.body.message || "error")); return; }
        upload(res.body.upload_url, res.body.detail_url, chosen);
      }, function () { fail("The connection broke while creating the image."); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var forms = document.querySelectorAll("form[data-upload]");
    for (var i = 0; i < forms.length; i++) {
      setup(forms[i]);
      forms[i].hidden = false; /* the upload-only form is hidden until the script can drive it */
    }
  });
})();
