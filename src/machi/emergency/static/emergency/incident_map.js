// Incidents on a map, coloured by severity (CSS classes map-marker--severity-N), without
// inline script (CSP): <div class="map" data-incidents="ID-of-json_script" data-tiles=…>.
// When htmx refreshes the list (every 15 s), the markers are drawn again from the new JSON;
// the view the person chose (zoom, position) is kept. Without JavaScript the table says it all.
(function () {
  "use strict";
  var maps = [];

  function read(id) {
    var source = document.getElementById(id);
    if (!source) { return []; }
    return JSON.parse(source.textContent).filter(function (p) {
      return p.latitude !== null && p.longitude !== null;
    });
  }

  function draw(entry, fit) {
    entry.layer.clearLayers();
    var bounds = [];
    read(entry.el.dataset.incidents).forEach(function (p) {
      var at = [Number(p.latitude), Number(p.longitude)];
      bounds.push(at);
      var marker = L.circleMarker(at, {
        radius: 10, weight: 2, color: "#1a1a1a", fillOpacity: 0.9,
        className: "map-marker map-marker--" + (p.status || "none")
      }).addTo(entry.layer);
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
    // A refresh fits the new points in only while the person has not moved the map.
    if (fit || !entry.touched) {
      entry.fitting = true;
      if (bounds.length) {
        entry.map.fitBounds(bounds, { padding: [24, 24], maxZoom: 16, animate: false });
      } else if (fit) {
        entry.map.setView([35.68, 139.76], 10, { animate: false });
      }
      entry.fitting = false;
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.L) { return; }
    document.querySelectorAll(".map[data-incidents]").forEach(function (el) {
      el.hidden = false;
      var map = L.map(el, { scrollWheelZoom: false });
      L.tileLayer(el.dataset.tiles, { attribution: el.dataset.attribution, maxZoom: 18 }).addTo(map);
      var entry = { el: el, map: map, layer: L.layerGroup().addTo(map), touched: false };
      map.on("dragstart zoomstart", function () {
        if (!entry.fitting) { entry.touched = true; }
      });
      maps.push(entry);
      draw(entry, true);
    });
  });

  document.addEventListener("htmx:afterSettle", function () {
    maps.forEach(function (entry) { draw(entry, false); });
  });
})();
