// Maps without inline script: <div class="map" data-points="ID-of-json_script" data-tiles="URL"
// data-attribution="HTML">. The points are a JSON list of {name, latitude, longitude, url,
// status, label}. Without JavaScript the page's own list or table says the same.
(function () {
  "use strict";
  function draw(el) {
    if (!window.L) { return; }
    var source = document.getElementById(el.dataset.points);
    if (!source) { return; }
    var points = JSON.parse(source.textContent).filter(function (p) {
      return p.latitude !== null && p.longitude !== null;
    });
    var map = L.map(el, { scrollWheelZoom: false });
    L.tileLayer(el.dataset.tiles, { attribution: el.dataset.attribution, maxZoom: 18 }).addTo(map);
    var bounds = [];
    points.forEach(function (p) {
      var at = [Number(p.latitude), Number(p.longitude)];
      bounds.push(at);
      var marker = L.circleMarker(at, {
        radius: 9, weight: 2, color: "#1a1a1a", fillOpacity: 0.9,
        className: "map-marker map-marker--" + (p.status || "none")
      }).addTo(map);
      var box = document.createElement("div");
      var title = document.createElement(p.url ? "a" : "strong");
      title.textContent = p.name;
      if (p.url) { title.href = p.url; }
      box.appendChild(title);
      if (p.label) {
        var line = document.createElement("div");
        line.textContent = p.label;
        box.appendChild(line);
      }
      marker.bindPopup(box);
      marker.bindTooltip(p.name + (p.label ? " — " + p.label : ""));
    });
    if (bounds.length) { map.fitBounds(bounds, { padding: [24, 24], maxZoom: 15 }); }
    else { map.setView([35.68, 139.76], 10); }
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".map[data-points]").forEach(draw);
  });
})();
