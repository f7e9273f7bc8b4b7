// Service worker of the offline shelter console (/console/shelters/offline/).
//
// Served by views_offline.service_worker, which writes self.MACHI_OFFLINE first: the version
// (a fingerprint of the files below), the scope and the static files the pages load.
//   - pages in the scope: network first (within a few seconds), kept for when the server
//     cannot be reached; a page never kept gets a short offline notice;
//   - the listed static files: kept at install, served from the cache (the version changes
//     with their content, and a new version brings a new cache);
//   - everything else, the API above all, goes to the network untouched: when it fails, the
//     page keeps the record in IndexedDB and sends it later (offline.js).
/* eslint-env serviceworker */
"use strict";

const CONFIG = self.MACHI_OFFLINE;
const PREFIX = "machi-shelters-offline-";
const ASSETS_CACHE = PREFIX + "assets-" + CONFIG.version;
// Pages are not versioned: a new worker must still open the console offline.
const PAGES_CACHE = PREFIX + "pages";
const NETWORK_WAIT_MS = 5000;
const PRECACHED = new Set(CONFIG.assets.map((path) => new URL(path, self.location.href).href));

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(ASSETS_CACHE)
      .then((cache) => cache.addAll(CONFIG.assets))
      .then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names
        .filter((name) => name.startsWith(PREFIX) && name !== ASSETS_CACHE && name !== PAGES_CACHE)
        .map((name) => caches.delete(name))))
      .then(() => self.clients.claim())
  );
});

function pageKey(url) {
  const parsed = new URL(url, self.location.href);
  return parsed.origin + parsed.pathname;
}

function inScope(url) {
  const parsed = new URL(url, self.location.href);
  return parsed.origin === self.location.origin && parsed.pathname.startsWith(CONFIG.scope);
}

function keepable(response) {
  return response && response.ok && response.type === "basic" && !response.redirected;
}

function timeout(ms) {
  return new Promise((resolve, reject) => {
    setTimeout(() => reject(new Error("the server did not answer in time")), ms);
  });
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");
}

function offlineNotice() {
  const body = "<!DOCTYPE html><html lang=\"ja\"><head><meta charset=\"utf-8\">"
    + "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    + "<title>オフライン / Offline</title></head><body><main><h1>オフライン / Offline</h1><p>"
    + escapeHtml(CONFIG.offlineText) + "</p><p><a href=\"" + escapeHtml(CONFIG.scope) + "\">"
    + escapeHtml(CONFIG.scope) + "</a></p></main></body></html>";
  return new Response(body, {
    status: 503,
    headers: { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" },
  });
}

async function page(request) {
  const cache = await caches.open(PAGES_CACHE);
  try {
    const response = await Promise.race([fetch(request), timeout(NETWORK_WAIT_MS)]);
    if (response.status >= 500) {
      // A proxy answering for a server that is down: the kept page is more use.
      const kept = await cache.match(pageKey(request.url), { ignoreVary: true });
      if (kept) { return kept; }
    }
    if (keepable(response)) {
      await cache.put(pageKey(request.url), response.clone());
    }
    return response;
  } catch (error) {
    const kept = await cache.match(pageKey(request.url), { ignoreVary: true });
    return kept || offlineNotice();
  }
}

async function asset(request) {
  const cache = await caches.open(ASSETS_CACHE);
  if (PRECACHED.has(request.url)) {
    const kept = await cache.match(request, { ignoreVary: true });
    if (kept) { return kept; }
  }
  try {
    const response = await fetch(request);
    if (keepable(response)) {
      await cache.put(request, response.clone());
    }
    return response;
  } catch (error) {
    const kept = await cache.match(request, { ignoreVary: true });
    if (kept) { return kept; }
    throw error;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") { return; }
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.mode === "navigate") {
    if (inScope(request.url)) { event.respondWith(page(request)); }
    return;
  }
  if (url.pathname.startsWith(CONFIG.staticUrl)) {
    event.respondWith(asset(request));
  }
});

// A page opened before this worker controlled it asks to be kept (with the console's list).
self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type !== "keep" || !Array.isArray(data.urls)) { return; }
  const port = event.ports && event.ports[0];
  event.waitUntil((async () => {
    const cache = await caches.open(PAGES_CACHE);
    const kept = [];
    for (const url of data.urls.filter(inScope)) {
      try {
        const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
        if (keepable(response)) {
          await cache.put(pageKey(url), response);
          kept.push(pageKey(url));
        }
      } catch (error) {
        // Offline already: the page is kept the next time it loads online.
      }
    }
    if (port) { port.postMessage({ kept }); }
  })());
});
