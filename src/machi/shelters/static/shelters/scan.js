// Camera scanning of a resident's QR code, where the browser can (BarcodeDetector).
// Without it, a handheld scanner types the code into the field like a keyboard, or staff type
// it: the form works the same either way.
(function () {
  "use strict";
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices) { return; }
  document.addEventListener("DOMContentLoaded", function () {
    var button = document.querySelector("[data-scan-target]");
    if (!button) { return; }
    var field = document.getElementById(button.dataset.scanTarget);
    var video = document.getElementById(button.dataset.scanVideo);
    button.hidden = false;
    var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    var stream = null;
    function stop() {
      if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
      video.hidden = true;
    }
    function look() {
      if (!stream) { return; }
      detector.detect(video).then(function (codes) {
        if (codes.length) {
          field.value = codes[0].rawValue;
          stop();
          field.form.requestSubmit();
        } else {
          window.requestAnimationFrame(look);
        }
      }).catch(function () { window.requestAnimationFrame(look); });
    }
    button.addEventListener("click", function () {
      if (stream) { stop(); return; }
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } })
        .then(function (s) {
          stream = s;
          video.srcObject = s;
          video.hidden = false;
          video.play();
          look();
        })
        .catch(function () { field.focus(); });
    });
  });
})();
