// Subscribe this browser to Web Push notifications (no inline script: the CSP forbids it).
//
// The button carries what the page knows:
//   <button id="push-subscribe" type="button" data-vapid-key="…" data-endpoint="/notify/push/subscribe"
//           data-msg-ok="…" data-msg-denied="…" data-msg-unsupported="…" data-msg-error="…">
//   <p id="push-status" aria-live="polite"></p>
// The messages come from the Django template, so they are translated with the rest of the page.
// The resident's choices (topics, areas, language, emergency only) are read from the same form.
(function () {
  "use strict";

  var WORKER_URL = "/notify/sw.js";
  var WORKER_SCOPE = "/notify/";

  function supported() {
    return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  }

  // applicationServerKey: the base64url public key as the bytes PushManager wants.
  function keyBytes(base64url) {
    var base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    base64 += "===".slice((base64.length + 3) % 4);
    var raw = window.atob(base64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i += 1) { bytes[i] = raw.charCodeAt(i); }
    return bytes;
  }

  function sameKey(subscription, bytes) {
    var current = subscription.options && subscription.options.applicationServerKey;
    if (!current) { return true; }  // the browser does not tell: assume it is ours
    var view = new Uint8Array(current);
    if (view.length !== bytes.length) { return false; }
    for (var i = 0; i < view.length; i += 1) {
      if (view[i] !== bytes[i]) { return false; }
    }
    return true;
  }

  function csrfToken(scope) {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) { return decodeURIComponent(match[1]); }
    var input = scope.querySelector("input[name=csrfmiddlewaretoken]") ||
      document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function checkedValues(scope, name) {
    var values = [];
    scope.querySelectorAll("input[name=" + name + "]:checked").forEach(function (input) {
      values.push(input.value);
    });
    return values;
  }

  function choices(scope) {
    var areas = [];
    scope.querySelectorAll("select[name=areas]").forEach(function (select) {
      Array.prototype.forEach.call(select.selectedOptions, function (option) {
        areas.push(option.value);
      });
    });
    areas = areas.concat(checkedValues(scope, "areas"));

    var language = document.documentElement.lang || "ja";
    var fields = scope.querySelectorAll("[name=language]");
    for (var i = 0; i < fields.length; i += 1) {
      var field = fields[i];
      if (field.type === "radio" || field.type === "checkbox") {
        if (field.checked) { language = field.value; break; }
      } else {
        language = field.value;
        break;
      }
    }

    var emergency = scope.querySelector("[name=emergency_only]");
    return {
      topics: checkedValues(scope, "topics"),
      areas: areas,
      language: language,
      emergency_only: Boolean(emergency && emergency.checked)
    };
  }

  // pushManager.subscribe needs an active worker; a fresh registration is still installing.
  function active(registration) {
    if (registration.active) { return Promise.resolve(registration); }
    var worker = registration.installing || registration.waiting;
    if (!worker) { return navigator.serviceWorker.ready; }
    return new Promise(function (resolve, reject) {
      worker.addEventListener("statechange", function () {
        if (worker.state === "activated") { resolve(registration); }
        if (worker.state === "redundant") { reject(new Error("service worker redundant")); }
      });
    });
  }

  function permission() {
    if (Notification.permission !== "default") {
      return Promise.resolve(Notification.permission);
    }
    // Older Safari takes a callback instead of returning a promise.
    return new Promise(function (resolve) {
      var answer = Notification.requestPermission(resolve);
      if (answer && typeof answer.then === "function") { answer.then(resolve); }
    });
  }

  function subscribe(registration, bytes) {
    return registration.pushManager.getSubscription().then(function (existing) {
      if (existing && sameKey(existing, bytes)) { return existing; }
      // A subscription made for another key (the server's key changed) cannot be reused.
      var gone = existing ? existing.unsubscribe() : Promise.resolve(true);
      return gone.then(function () {
        return registration.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: bytes
        });
      });
    });
  }

  function setUp(button) {
    var status = document.getElementById("push-status");
    var scope = button.closest("form") || document;

    function say(message) {
      if (status) { status.textContent = message || ""; }
    }

    if (!supported() || !button.dataset.vapidKey || !button.dataset.endpoint) {
      button.disabled = true;
      say(button.dataset.msgUnsupported);
      return;
    }

    button.addEventListener("click", function (event) {
      event.preventDefault();
      if (button.disabled) { return; }
      button.disabled = true;
      say("");
      var bytes = keyBytes(button.dataset.vapidKey);
      permission()
        .then(function (answer) {
          if (answer !== "granted") {
            var denied = new Error("permission " + answer);
            denied.denied = true;
            throw denied;
          }
          return navigator.serviceWorker.register(WORKER_URL, { scope: WORKER_SCOPE });
        })
        .then(active)
        .then(function (registration) { return subscribe(registration, bytes); })
        .then(function (subscription) {
          var body = choices(scope);
          body.subscription = subscription.toJSON();
          return fetch(button.dataset.endpoint, {
            method: "POST",
            credentials: "same-origin",
            headers: {
              "Content-Type": "application/json",
              "Accept": "application/json",
              "X-CSRFToken": csrfToken(scope)
            },
            body: JSON.stringify(body)
          });
        })
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          say(button.dataset.msgOk);
        })
        .catch(function (error) {
          var denied = error && (error.denied || error.name === "NotAllowedError");
          say(denied ? button.dataset.msgDenied : button.dataset.msgError);
          if (!denied && window.console) { window.console.warn("push subscription failed:", error); }
        })
        .then(function () { button.disabled = false; });
    });
  }

  function start() {
    var button = document.getElementById("push-subscribe");
    if (button) { setUp(button); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
