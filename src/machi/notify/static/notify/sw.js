// The notify service worker: shows what Machi pushes, opens the message when tapped.
// Served at /notify/sw.js (scope /notify/). The payload is the JSON written by
// machi.notify.channels.webpush: {title, body, url, tag, emergency, lang}.
"use strict";

self.addEventListener("install", function () {
  // A new version takes over at once: nothing here keeps state worth waiting for.
  self.skipWaiting();
});

self.addEventListener("activate", function (event) {
  event.waitUntil(self.clients.claim());
});

function readPayload(data) {
  if (!data) { return {}; }
  try {
    var parsed = data.json();
    return parsed && typeof parsed === "object" ? parsed : { body: String(parsed) };
  } catch (error) {
    return { body: data.text() };
  }
}

self.addEventListener("push", function (event) {
  var message = readPayload(event.data);
  var emergency = Boolean(message.emergency);
  var options = {
    body: message.body || "",
    data: { url: message.url || "" },
    lang: message.lang || "ja",
    // An emergency stays on screen until the resident acts on it.
    requireInteraction: emergency
  };
  if (message.tag) {
    // The same tag replaces a notification already shown (a resent message is not doubled);
    // an emergency that replaces one still alerts again.
    options.tag = message.tag;
    options.renotify = emergency;
  }
  // Every push must show a notification (userVisibleOnly), so an empty one still gets a title.
  event.waitUntil(self.registration.showNotification(message.title || self.location.host, options));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var data = event.notification.data || {};
  var target;
  try {
    target = new URL(data.url || "/notify/messages/", self.location.origin);
  } catch (error) {
    return;
  }
  if (target.protocol !== "https:" && target.protocol !== "http:") { return; }
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
      for (var i = 0; i < windows.length; i += 1) {
        if (windows[i].url === target.href && "focus" in windows[i]) {
          return windows[i].focus();
        }
      }
      return self.clients.openWindow ? self.clients.openWindow(target.href) : undefined;
    })
  );
});
