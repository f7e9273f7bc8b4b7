// The incident report form on a phone, without inline script (CSP): a map to tap the place,
// a "use my location" button, and a preview of the chosen photos. Without JavaScript the
// form works the same: latitude and longitude, or an address, are typed in.
(function () {
  "use strict";

  function round6(value) { return Math.round(value * 1e6) / 1e6; }

  function picker(form) {
    var el = form.querySelector("[data-picker]");
    var status = form.querySelector("[data-locate-status]");
    var locate = form.querySelector("[data-locate]");
    if (!el) { return; }
    var lat = document.getElementById(el.dataset.latitudeInput);
    var lon = document.getElementById(el.dataset.longitudeInput);
    var marker = null;
    var map = null;

    function say(message) { if (status) { status.textContent = message || ""; } }

    function place(latitude, longitude, zoom) {
      if (!map) { return; }
      var at = [latitude, longitude];
      if (!marker) {
        marker = L.circleMarker(at, {
          radius: 11, weight: 3, color: "#1a1a1a", fillOpacity: 0.9,
          className: "map-marker map-marker--picked"
        }).addTo(map);
      } else {
        marker.setLatLng(at);
      }
      if (zoom) { map.setView(at, Math.max(map.getZoom(), zoom)); }
    }

    function set(latitude, longitude, zoom) {
      lat.value = round6(latitude);
      lon.value = round6(longitude);
      place(latitude, longitude, zoom);
    }

    if (window.L && lat && lon) {
      el.hidden = false;
      map = L.map(el, { scrollWheelZoom: false, tap: true });
      L.tileLayer(el.dataset.tiles, { attribution: el.dataset.attribution, maxZoom: 18 }).addTo(map);
      var start = [Number(el.dataset.centerLatitude), Number(el.dataset.centerLongitude)];
      map.setView(start, 14);
      if (lat.value && lon.value && !isNaN(Number(lat.value)) && !isNaN(Number(lon.value))) {
        place(Number(lat.value), Number(lon.value), 16);
      }
      map.on("click", function (event) {
        set(event.latlng.lat, event.latlng.lng, 0);
        say(locate ? locate.dataset.msgPicked : "");
      });
      [lat, lon].forEach(function (input) {
        input.addEventListener("change", function () {
          var a = Number(lat.value), b = Number(lon.value);
          if (lat.value && lon.value && !isNaN(a) && !isNaN(b)) { place(a, b, 16); }
        });
      });
    }

    if (locate && lat && lon && navigator.geolocation) {
      locate.hidden = false;
      locate.addEventListener("click", function () {
        say(locate.dataset.msgLocating);
        locate.disabled = true;
        navigator.geolocation.getCurrentPosition(function (position) {
          locate.disabled = false;
          set(position.coords.latitude, position.coords.longitude, 16);
          say(locate.dataset.msgFound);
        }, function () {
          locate.disabled = false;
          say(locate.dataset.msgFailed);
        }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
      });
    }
  }

  function preview(form) {
    var list = form.querySelector("[data-photo-preview]");
    if (!list) { return; }
    var input = document.getElementById(list.dataset.photoPreview);
    if (!input || !window.FileReader) { return; }
    input.addEventListener("change", function () {
      list.textContent = "";
      var files = Array.prototype.slice.call(input.files || []);
      list.hidden = files.length === 0;
      files.forEach(function (file) {
        var item = document.createElement("li");
        list.appendChild(item);
        // Browsers draw JPEG, PNG and WebP; a HEIC photo is shown by its name.
        if (/^image\/(jpeg|png|webp)$/.test(file.type)) {
          var reader = new FileReader();
          reader.onload = function () {
            var img = document.createElement("img");
            img.src = reader.result; // a data: URL, which the CSP allows for images
            img.alt = file.name;
            item.appendChild(img);
          };
          reader.readAsDataURL(file);
        } else {
          var name = document.createElement("span");
          name.className = "photo-grid__file";
          name.textContent = file.name;
          item.appendChild(name);
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-incident-form]").forEach(function (form) {
      picker(form);
      preview(form);
    });
  });
})();
