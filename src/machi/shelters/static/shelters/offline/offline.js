// Offline shelter console (オフライン受付).
//
// Everything recorded here (a registration with its check-in, a check-in by registration code,
// a check-out, needs noted) is first written to this browser's IndexedDB, with ids made here
// (crypto.randomUUID), and only then sent to the server: on load, when the browser comes back
// online, every few seconds while something waits, and on "Send now". The server applies each
// operation once however often it arrives (api_offline.offline_sync), so a record is removed
// from this device only when the server has answered for it: recorded, or refused for a reason
// staff must see (kept in "Needs attention" until they deal with it). Nothing is dropped.
//
// The roster of the shelter is kept here too, so people can be found and checked out offline;
// what waits to be sent is drawn over it. The service worker (sw.js) keeps the page itself.
(function () {
  "use strict";

  const DB_NAME = "machi-shelters-offline";
  const DB_VERSION = 1;
  const BATCH = 50;
  const TICK_MS = 15000;
  const ROSTER_MAX_AGE_MS = 5 * 60 * 1000;
  const REQUEST_WAIT_MS = 20000;
  const SYNC_LOCK = "machi-shelters-offline-sync";

  // --- Small helpers ---------------------------------------------------------------------

  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    const bytes = window.crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)]
      .join("-");
  }

  function fmt(template, values) {
    return String(template).replace(/%\((\w+)\)s/g, (match, key) =>
      (values && key in values ? String(values[key]) : match));
  }

  function el(tag, attributes, children) {
    const node = document.createElement(tag);
    Object.entries(attributes || {}).forEach(([name, value]) => {
      if (value === null || value === undefined || value === false) { return; }
      if (name === "text") { node.textContent = value; } else { node.setAttribute(name, value === true ? "" : value); }
    });
    (children || []).forEach((child) => {
      if (child !== null && child !== undefined) {
        node.append(child instanceof Node ? child : document.createTextNode(String(child)));
      }
    });
    return node;
  }

  function readJson(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : {};
  }

  function csrfToken(fallback) {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : (fallback || "");
  }

  function withTimeout(promise, ms) {
    let timer;
    return Promise.race([
      promise,
      new Promise((resolve, reject) => {
        timer = setTimeout(() => reject(new TypeError("the server did not answer in time")), ms);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  // --- Service worker --------------------------------------------------------------------

  function keepPages(registration, urls) {
    return new Promise((resolve) => {
      const worker = registration.active;
      if (!worker) { resolve(null); return; }
      const channel = new MessageChannel();
      const timer = setTimeout(() => resolve(null), 15000);
      channel.port1.onmessage = (event) => { clearTimeout(timer); resolve(event.data); };
      worker.postMessage({ type: "keep", urls }, [channel.port2]);
    });
  }

  function startWorker(host) {
    if (!host || !("serviceWorker" in navigator)) { return Promise.resolve(false); }
    const wasControlled = Boolean(navigator.serviceWorker.controller);
    return navigator.serviceWorker.register(host.dataset.swUrl, { scope: host.dataset.swScope })
      .then(() => navigator.serviceWorker.ready)
      .then((registration) => {
        // A page the worker did not load (the first visit) is kept by asking the worker.
        if (wasControlled || !navigator.onLine) { return true; }
        return keepPages(registration, [window.location.pathname, host.dataset.swScope])
          .then(() => true);
      })
      .catch((error) => { console.warn("offline console: no service worker", error); return false; });
  }

  // --- IndexedDB -------------------------------------------------------------------------

  function openDb() {
    return new Promise((resolve, reject) => {
      if (!("indexedDB" in window)) { reject(new Error("IndexedDB is unavailable")); return; }
      const request = window.indexedDB.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        if (!db.objectStoreNames.contains("ops")) {
          db.createObjectStore("ops", { keyPath: "id" }).createIndex("opening", "opening");
        }
        if (!db.objectStoreNames.contains("notes")) {
          db.createObjectStore("notes", { keyPath: "id" }).createIndex("opening", "opening");
        }
        if (!db.objectStoreNames.contains("kv")) {
          db.createObjectStore("kv", { keyPath: "key" });
        }
      };
      request.onsuccess = () => {
        const db = request.result;
        db.onversionchange = () => db.close();
        resolve(db);
      };
      request.onerror = () => reject(request.error);
      request.onblocked = () => reject(new Error("IndexedDB is blocked by another tab"));
    });
  }

  function transaction(db, stores, mode, work) {
    return new Promise((resolve, reject) => {
      // "strict": the record is on disk when the transaction completes, not merely queued.
      const tx = mode === "readwrite"
        ? db.transaction(stores, mode, { durability: "strict" })
        : db.transaction(stores, mode);
      const result = {};
      tx.oncomplete = () => resolve(result.value);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error || new Error("the transaction was aborted"));
      work(tx, result);
    });
  }

  function getAll(db, store) {
    return transaction(db, [store], "readonly", (tx, result) => {
      const request = tx.objectStore(store).getAll();
      request.onsuccess = () => { result.value = request.result; };
    });
  }

  function getOne(db, store, key) {
    return transaction(db, [store], "readonly", (tx, result) => {
      const request = tx.objectStore(store).get(key);
      request.onsuccess = () => { result.value = request.result; };
    });
  }

  // changes: [["put", store, value], ["delete", store, key]], all in one transaction.
  function write(db, changes) {
    const stores = Array.from(new Set(changes.map((change) => change[1])));
    if (!stores.length) { return Promise.resolve(); }
    return transaction(db, stores, "readwrite", (tx) => {
      changes.forEach(([action, store, value]) => {
        if (action === "put") { tx.objectStore(store).put(value); } else { tx.objectStore(store).delete(value); }
      });
    });
  }

  // --- The console -----------------------------------------------------------------------

  function Console(root) {
    this.root = root;
    this.cfg = readJson("offline-config");
    this.t = readJson("offline-strings");
    this.db = null;
    this.device = "";
    this.ops = [];       // this opening's operations: pending or failed
    this.notes = [];     // conflicts reported by the server, until dismissed
    this.roster = null;  // {rows, at}: the server's roster as last fetched
    this.lastSync = null;
    this.reachable = true;
    this.auth = "";      // "" | "auth" (session ended) | "forbidden"
    this.syncing = null;
    this.again = false;
    this.lastSeq = 0;
    this.needsTarget = null;
    this.needLabels = {};
    this.dateTime = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
      month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      timeZone: "Asia/Tokyo", // the city's clock, whatever the tablet was set to
    });
    this.time = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
      hour: "2-digit", minute: "2-digit", second: "2-digit", timeZone: "Asia/Tokyo",
    });
  }

  Console.prototype.start = async function () {
    this.root.querySelectorAll("#needs-form input[name=needs]").forEach((input) => {
      const label = input.closest("label");
      this.needLabels[input.value] = label ? label.textContent.trim() : input.value;
    });
    this.bind();
    const worker = startWorker(this.root);
    try {
      this.db = await openDb();
    } catch (error) {
      this.say(this.t.noStorage, true);
      this.root.dataset.storage = "none";
      this.render();
      return;
    }
    if (navigator.storage && navigator.storage.persist) {
      navigator.storage.persist().catch(() => false);  // ask the browser not to evict it
    }
    await this.loadDevice();
    await this.load();
    this.render();
    window.addEventListener("online", () => { this.reachable = true; this.render(); this.sync(true); });
    window.addEventListener("offline", () => this.render());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") { this.sync(false); }
    });
    window.setInterval(() => this.tick(), TICK_MS);
    await this.sync(true);
    // Until the worker keeps the page, a reload without the network would fail: say when.
    const ready = document.getElementById("offline-ready");
    if ((await worker) && ready) { ready.hidden = false; }
    this.root.dataset.ready = "true";
  };

  Console.prototype.loadDevice = async function () {
    const kept = await getOne(this.db, "kv", "device");
    if (kept) { this.device = kept.value; return; }
    this.device = uuid();
    await write(this.db, [["put", "kv", { key: "device", value: this.device }]]);
  };

  Console.prototype.load = async function () {
    const opening = this.cfg.openingId;
    const [ops, notes, roster, lastSync] = await Promise.all([
      getAll(this.db, "ops"),
      getAll(this.db, "notes"),
      getOne(this.db, "kv", "roster:" + opening),
      getOne(this.db, "kv", "lastSync:" + opening),
    ]);
    ops.forEach((op) => { this.lastSeq = Math.max(this.lastSeq, op.seq || 0); });
    this.ops = ops.filter((op) => op.opening === opening).sort((a, b) => a.seq - b.seq);
    this.notes = notes.filter((note) => note.opening === opening).sort((a, b) => a.seq - b.seq);
    this.roster = roster || null;
    this.lastSync = lastSync ? lastSync.value : null;
  };

  Console.prototype.pending = function () {
    return this.ops.filter((op) => op.state === "pending");
  };

  Console.prototype.tick = function () {
    if (this.pending().length) { this.sync(false); return; }
    if (!this.reachable || this.auth) { this.sync(true); return; }
    const age = this.roster ? Date.now() - Date.parse(this.roster.at) : Infinity;
    if (age > ROSTER_MAX_AGE_MS) { this.sync(true); }
  };

  // --- Recording ---

  Console.prototype.record = async function (op) {
    const seq = Math.max(Date.now() * 1000, this.lastSeq + 1);
    this.lastSeq = seq;
    Object.assign(op, {
      id: uuid(),
      opening: this.cfg.openingId,
      syncUrl: this.cfg.syncUrl,
      seq,
      at: new Date().toISOString(),
      state: "pending",
      attempts: 0,
    });
    await write(this.db, [["put", "ops", op]]);
    this.ops = this.ops.filter((other) => other.id !== op.id).concat(op);  // a sync may have loaded it
    this.render();
    if (navigator.onLine) { window.setTimeout(() => this.sync(false), 0); }
    return op;
  };

  Console.prototype.forget = async function (op) {
    // Cancelling a registration also cancels what was recorded on that stay afterwards.
    const dropped = op.kind === "register" || op.kind === "checkin_code"
      ? this.ops.filter((other) => other.checkin_id === op.checkin_id && other.seq >= op.seq)
      : [op];
    await write(this.db, dropped.map((other) => ["delete", "ops", other.id]));
    this.ops = this.ops.filter((other) => !dropped.includes(other));
    this.render();
  };

  // --- Sending ---

  Console.prototype.sync = function (withRoster) {
    if (!this.db) { return Promise.resolve(); }
    if (this.syncing) {
      this.again = true;  // something new came meanwhile: one more pass after this one
      return this.syncing;
    }
    const run = async () => {
      this.render();
      const sent = await this.sendAll();
      if (sent && (withRoster || sent === "progress")) { await this.refreshRoster(); }
    };
    const locked = navigator.locks && navigator.locks.request
      ? navigator.locks.request(SYNC_LOCK, { ifAvailable: true }, (lock) => (lock ? run() : null))
      : run();
    this.syncing = Promise.resolve(locked)
      .catch((error) => { console.warn("offline console: sync failed", error); })
      .finally(() => {
        this.syncing = null;
        this.render();
        if (this.again && navigator.onLine && this.pending().length) {
          this.again = false;
          this.sync(false);
        }
        this.again = false;
      });
    return this.syncing;
  };

  // Sends every pending operation of this device (all shelters), oldest first, in batches.
  // Returns false when the server could not be reached or refused us, "progress" when some
  // operations were answered, true when there was nothing to send.
  Console.prototype.sendAll = async function () {
    if (!navigator.onLine) { return false; }
    let answered = false;
    for (let round = 0; round < 100; round += 1) {
      const all = await getAll(this.db, "ops");
      const pending = all.filter((op) => op.state === "pending").sort((a, b) => a.seq - b.seq);
      if (!pending.length) { break; }
      const url = pending[0].syncUrl;
      const batch = pending.filter((op) => op.syncUrl === url).slice(0, BATCH);
      const result = await this.sendBatch(url, batch);
      if (result === "stop") { await this.load(); return false; }
      if (result === "none") { break; }
      answered = true;
    }
    await this.load();
    if (answered) {
      await this.stamp();
      return "progress";
    }
    return true;
  };

  Console.prototype.stamp = async function () {
    this.lastSync = new Date().toISOString();
    await write(this.db, [["put", "kv", { key: "lastSync:" + this.cfg.openingId, value: this.lastSync }]]);
  };

  function wire(op, device) {
    const body = { id: op.id, kind: op.kind, checkin_id: op.checkin_id, at: op.at, device };
    if (op.kind === "register") { body.person = op.person; }
    if (op.kind === "checkin_code") { body.code = op.code; }
    if (op.kind === "needs") {
      body.needs_added = op.needs_added;
      body.needs_removed = op.needs_removed;
    }
    return body;
  }

  // One batch: "answered" (some operations left the queue), "none" (all must wait), "stop"
  // (unreachable, or the server will not take anything from us now).
  Console.prototype.sendBatch = async function (url, batch) {
    let response;
    try {
      response = await withTimeout(fetch(url, {
        method: "POST",
        credentials: "same-origin",
        cache: "no-store",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-CSRFToken": csrfToken(this.root.dataset.csrf),
        },
        body: JSON.stringify({ operations: batch.map((op) => wire(op, this.device)) }),
      }), REQUEST_WAIT_MS);
    } catch (error) {
      this.reachable = false;
      return "stop";
    }
    this.reachable = true;
    if (response.status === 401) { this.auth = "auth"; return "stop"; }
    if (response.status === 403) { this.auth = "forbidden"; return "stop"; }
    if (response.status === 422) { return this.refused(batch, await response.json().catch(() => ({}))); }
    if (response.status === 404) {
      const problem = await response.json().catch(() => ({}));
      return this.settle(batch.map((op) => [op, { status: "failed", message: problem.detail || "404" }]));
    }
    if (!response.ok) { return "stop"; }  // 429, 5xx: later
    this.auth = "";
    const body = await response.json();
    const byId = new Map(body.outcomes.map((outcome) => [outcome.id, outcome]));
    return this.settle(batch.map((op) => [op, byId.get(op.id) || { status: "retry" }]));
  };

  // A 422 names the operations at fault by their index: those fail, the others go again.
  Console.prototype.refused = function (batch, problem) {
    const faults = new Map();
    (problem.errors || []).forEach((error) => {
      const match = /operations\.(\d+)\.?(.*)$/.exec(error.field || "");
      if (match && batch[Number(match[1])]) {
        const op = batch[Number(match[1])];
        faults.set(op.id, { status: "failed", field: match[2], message: (match[2] ? match[2] + ": " : "") + error.message });
      }
    });
    if (!faults.size) { return "stop"; }
    return this.settle(batch.map((op) => [op, faults.get(op.id) || { status: "retry" }]));
  };

  Console.prototype.settle = async function (pairs) {
    const changes = [];
    let answered = false;
    pairs.forEach(([op, outcome]) => {
      if (outcome.status === "done") {
        answered = true;
        changes.push(["delete", "ops", op.id]);
        if (outcome.conflict) {
          changes.push(["put", "notes", {
            id: op.id, opening: op.opening, seq: op.seq, kind: op.kind, label: op.label,
            conflict: outcome.conflict, at: new Date().toISOString(),
          }]);
        }
      } else if (outcome.status === "failed") {
        answered = true;
        changes.push(["put", "ops", Object.assign({}, op, {
          state: "failed", error: { field: outcome.field || "", message: outcome.message || "" },
        })]);
      } else {
        changes.push(["put", "ops", Object.assign({}, op, { attempts: (op.attempts || 0) + 1 })]);
      }
    });
    // What the server took is in the kept roster at once, before the next roster arrives.
    const taken = pairs.filter(([op, outcome]) => outcome.status === "done" && op.opening === this.cfg.openingId)
      .map(([op]) => op);
    if (taken.length && this.roster) {
      this.roster = Object.assign({}, this.roster, { rows: overlay(this.roster.rows, taken, false) });
      changes.push(["put", "kv", this.roster]);
    }
    await write(this.db, changes);
    return answered ? "answered" : "none";
  };

  Console.prototype.refreshRoster = async function () {
    if (!navigator.onLine) { return; }
    let response;
    try {
      response = await withTimeout(fetch(this.cfg.rosterUrl, {
        credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" },
      }), REQUEST_WAIT_MS);
    } catch (error) {
      this.reachable = false;
      return;
    }
    this.reachable = true;
    if (response.status === 401) { this.auth = "auth"; return; }
    if (response.status === 403) { this.auth = "forbidden"; return; }
    if (!response.ok) { return; }
    const rows = await response.json();
    this.roster = { key: "roster:" + this.cfg.openingId, rows, at: new Date().toISOString() };
    await write(this.db, [["put", "kv", this.roster]]);
    if (!this.pending().length) { await this.stamp(); }
    this.auth = "";
  };

  // --- Drawing ---

  Console.prototype.state = function () {
    if (!this.db) { return "storage"; }
    if (!navigator.onLine) { return "offline"; }
    if (!this.reachable) { return "unreachable"; }
    if (this.auth) { return this.auth; }
    if (this.syncing) { return "syncing"; }
    return "online";
  };

  // Rows of a roster with operations drawn over them (marked pending unless told otherwise).
  function overlay(base, ops, pending) {
    const rows = new Map();
    (base || []).forEach((row) => {
      rows.set(row.checkin_id, Object.assign({}, row, { needs: (row.needs || []).slice() }));
    });
    ops.forEach((op) => {
      const row = rows.get(op.checkin_id);
      if (op.kind === "register") {
        rows.set(op.checkin_id, Object.assign({}, op.person, {
          checkin_id: op.checkin_id, checked_in_at: op.at, needs: (op.person.needs || []).slice(),
          pending,
        }));
      } else if (op.kind === "checkin_code") {
        // Who the code brings is known once the server has answered (the next roster).
        if (pending) {
          rows.set(op.checkin_id, {
            checkin_id: op.checkin_id, family_name: op.label, checked_in_at: op.at, needs: [],
            pending, byCode: true,
          });
        }
      } else if (op.kind === "checkout" && row) {
        rows.delete(op.checkin_id);
      } else if (op.kind === "needs" && row) {
        const needs = new Set(row.needs);
        op.needs_removed.forEach((need) => needs.delete(need));
        op.needs_added.forEach((need) => needs.add(need));
        row.needs = Array.from(needs);
        row.pending = row.pending || pending;
      }
    });
    return Array.from(rows.values());
  }

  // The roster as the server last sent it, with what waits here drawn over it.
  Console.prototype.rows = function () {
    return overlay(this.roster && this.roster.rows, this.pending(), true);
  };

  function fullName(person) {
    return [person.family_name, person.given_name].filter(Boolean).join(" ");
  }

  Console.prototype.formatTime = function (iso, withDate) {
    if (!iso) { return ""; }
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? "" : (withDate ? this.dateTime : this.time).format(date);
  };

  Console.prototype.setText = function (selector, text) {
    const node = this.root.querySelector(selector);
    if (node && node.textContent !== text) { node.textContent = text; }
  };

  Console.prototype.render = function () {
    const state = this.state();
    const status = this.root.querySelector("#sync-status");
    if (status.dataset.state !== state) { status.dataset.state = state; }
    const words = {
      storage: this.t.noStorage, offline: this.t.offline, unreachable: this.t.unreachable,
      auth: this.t.signIn, forbidden: this.t.forbidden, syncing: this.t.syncing,
      online: this.pending().length ? this.t.online : this.t.synced,
    };
    this.setText("#sync-state", words[state]);
    this.setText("#waiting-count", String(this.pending().length));
    this.setText("#last-sync", this.lastSync ? this.formatTime(this.lastSync, true) : this.t.never);
    this.setText("#roster-at", this.roster ? this.formatTime(this.roster.at, true) : this.t.never);
    this.root.querySelector("#sign-in").hidden = !this.auth;
    this.root.dataset.waiting = String(this.pending().length);
    this.drawRoster();
    this.drawWaiting();
    this.drawAttention();
  };

  // Replaces a list's items only when they changed, and gives the focus back to the same
  // button if it was on one (a sync in the background must not throw a keyboard user out).
  Console.prototype.redraw = function (container, signature, build) {
    if (container.dataset.signature === signature) { return; }
    container.dataset.signature = signature;
    const active = document.activeElement;
    const key = active && container.contains(active) ? focusKey(active) : null;
    container.replaceChildren(...build());
    if (key) {
      const again = Array.from(container.querySelectorAll("[data-action]")).find((node) => focusKey(node) === key);
      if (again) { again.focus(); }
    }
  };

  function focusKey(node) {
    const data = node.dataset || {};
    return data.action ? data.action + "|" + (data.op || data.note || data.checkin || "") : null;
  }

  Console.prototype.needText = function (needs) {
    return (needs || []).map((need) => this.needLabels[need] || need);
  };

  Console.prototype.drawRoster = function () {
    const body = this.root.querySelector("#roster-body");
    const rows = this.rows().sort((a, b) =>
      String(a.family_name_kana || a.family_name || "").localeCompare(String(b.family_name_kana || b.family_name || ""), "ja"));
    this.setText("#present-count", String(rows.length));
    this.redraw(body, JSON.stringify(rows), () => this.rosterLines(rows));
  };

  Console.prototype.rosterLines = function (rows) {
    const lines = rows.map((row) => {
      const name = row.byCode ? row.family_name : fullName(row);
      const marks = [];
      if (row.pending) { marks.push(" ", el("span", { class: "badge badge--pending", text: this.t.pending })); }
      if (row.conflict) { marks.push(" ", el("span", { class: "badge badge--alert", text: this.t.conflictTwo })); }
      const actions = el("div", { class: "row-actions" });
      if (!row.byCode) {
        actions.append(
          el("button", { type: "button", class: "button button--small button--secondary", "data-action": "checkout", "data-checkin": row.checkin_id }, [
            this.t.checkOut, el("span", { class: "visually-hidden", text: " " + name }),
          ]),
          el("button", { type: "button", class: "button button--small button--secondary", "data-action": "needs", "data-checkin": row.checkin_id }, [
            this.t.editNeeds, el("span", { class: "visually-hidden", text: " " + name }),
          ])
        );
      }
      return el("tr", { class: row.pending ? "row--pending" : (row.conflict ? "row--alert" : null), "data-checkin": row.checkin_id }, [
        el("th", { scope: "row" }, [name].concat(marks)),
        el("td", { text: [row.family_name_kana, row.given_name_kana].filter(Boolean).join(" ") }),
        el("td", { text: row.birth_date || "" }),
        el("td", {}, this.needText(row.needs).map((label) => el("span", { class: "tag", text: label }))),
        el("td", {}, [el("time", { datetime: row.checked_in_at || "", text: this.formatTime(row.checked_in_at, true) })]),
        el("td", {}, [actions]),
      ]);
    });
    if (!lines.length) { lines.push(el("tr", {}, [el("td", { colspan: "6", text: this.t.nobody })])); }
    return lines;
  };

  Console.prototype.kindLabel = function (kind) {
    return { register: this.t.opRegister, checkin_code: this.t.opCheckinCode, checkout: this.t.opCheckout, needs: this.t.opNeeds }[kind] || kind;
  };

  Console.prototype.drawWaiting = function () {
    const list = this.root.querySelector("#waiting-list");
    const pending = this.pending();
    this.redraw(list, JSON.stringify([Boolean(this.syncing), pending]), () => this.waitingItems(pending));
  };

  Console.prototype.waitingItems = function (pending) {
    const items = pending.map((op) => el("li", { class: "attention-item", "data-op": op.id }, [
      el("span", { class: "attention-item__text" }, [
        el("strong", { text: this.kindLabel(op.kind) }), ": " + op.label + " (",
        el("time", { datetime: op.at, text: this.formatTime(op.at, true) }), ")",
      ]),
      el("button", {
        type: "button", class: "button button--small button--secondary", "data-action": "cancel",
        "data-op": op.id, disabled: Boolean(this.syncing),
      }, [this.t.cancel, el("span", { class: "visually-hidden", text: " " + this.kindLabel(op.kind) + " " + op.label })]),
    ]));
    if (!items.length) { items.push(el("li", { text: this.t.synced })); }
    return items;
  };

  Console.prototype.drawAttention = function () {
    const section = this.root.querySelector("#attention");
    const list = this.root.querySelector("#attention-list");
    const failed = this.ops.filter((op) => op.state === "failed");
    section.hidden = !(failed.length || this.notes.length);
    this.redraw(list, JSON.stringify([failed, this.notes]), () => this.attentionItems(failed));
  };

  Console.prototype.attentionItems = function (failed) {
    const items = [];
    failed.forEach((op) => {
      items.push(el("li", { class: "attention-item", "data-op": op.id, "data-kind": "failed" }, [
        el("span", { class: "attention-item__text" }, [
          el("strong", { text: this.kindLabel(op.kind) + ": " + op.label }), " ",
          fmt(this.t.failed, { message: (op.error && op.error.message) || "" }),
        ]),
        el("button", { type: "button", class: "button button--small", "data-action": "retry", "data-op": op.id }, [this.t.retry, el("span", { class: "visually-hidden", text: " " + op.label })]),
        el("button", { type: "button", class: "button button--small button--secondary", "data-action": "discard", "data-op": op.id }, [this.t.discard, el("span", { class: "visually-hidden", text: " " + op.label })]),
      ]));
    });
    this.notes.forEach((note) => {
      items.push(el("li", { class: "attention-item", "data-note": note.id, "data-kind": note.conflict }, [
        el("span", { class: "attention-item__text" }, [
          el("strong", { text: this.kindLabel(note.kind) + ": " + note.label }), " ",
          note.conflict === "already_ended" ? this.t.conflictEnded : this.t.conflictTwo,
        ]),
        el("button", { type: "button", class: "button button--small button--secondary", "data-action": "dismiss", "data-note": note.id }, [this.t.dismiss, el("span", { class: "visually-hidden", text: " " + note.label })]),
      ]));
    });
    return items;
  };

  Console.prototype.say = function (text, alert) {
    const box = this.root.querySelector("#offline-message");
    box.replaceChildren(el("p", { class: alert ? "notice notice--error" : "notice", text }));
  };

  // --- Forms and buttons ---

  function fieldOf(form, name) {
    return form.elements.namedItem(name);
  }

  function clearErrors(form) {
    form.querySelectorAll(".field-error[data-offline]").forEach((node) => node.remove());
    form.querySelectorAll(".field--error").forEach((node) => node.classList.remove("field--error"));
    form.querySelectorAll("[aria-invalid]").forEach((input) => {
      input.removeAttribute("aria-invalid");
      const ids = (input.getAttribute("aria-describedby") || "").split(" ").filter((id) => id && !id.endsWith("_error"));
      if (ids.length) { input.setAttribute("aria-describedby", ids.join(" ")); } else { input.removeAttribute("aria-describedby"); }
    });
    const summary = form.querySelector(".error-summary");
    if (summary) { summary.hidden = true; }
  }

  Console.prototype.showErrors = function (form, errors) {
    clearErrors(form);
    if (!errors.length) { return; }
    const summary = form.querySelector(".error-summary");
    const links = [];
    errors.forEach(([name, message]) => {
      const input = fieldOf(form, name);
      if (!input) { return; }
      const wrapper = input.closest(".field");
      const errorId = input.id + "_error";
      const box = el("div", { class: "field-error", id: errorId, "data-offline": "true" }, [
        el("p", {}, [el("span", { class: "visually-hidden", text: this.t.errorPrefix }), " " + message]),
      ]);
      if (wrapper) { wrapper.classList.add("field--error"); }
      input.before(box);
      input.setAttribute("aria-invalid", "true");
      const ids = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
      input.setAttribute("aria-describedby", ids.concat(errorId).join(" "));
      const label = form.querySelector("label[for='" + input.id + "']");
      const labelText = label ? label.firstChild.textContent.trim() : name;
      links.push(el("li", {}, [el("a", { href: "#" + input.id, text: labelText + ": " + message })]));
    });
    if (summary) {
      summary.querySelector("ul").replaceChildren(...links);
      summary.hidden = false;
      summary.focus();
    }
  };

  function today() {
    const now = new Date();
    const pad = (n) => String(n).padStart(2, "0");
    return now.getFullYear() + "-" + pad(now.getMonth() + 1) + "-" + pad(now.getDate());
  }

  Console.prototype.onRegister = async function (form) {
    if (!this.db) { this.say(this.t.noStorage, true); return; }
    const value = (name) => (fieldOf(form, name) ? fieldOf(form, name).value.trim() : "");
    const person = {
      family_name: value("family_name"),
      given_name: value("given_name"),
      family_name_kana: value("family_name_kana"),
      given_name_kana: value("given_name_kana"),
      birth_date: value("birth_date") || null,
      sex: value("sex") || null,
      needs: Array.from(form.querySelectorAll("input[name=needs]:checked"), (box) => box.value),
    };
    const errors = [];
    if (!person.family_name) { errors.push(["family_name", this.t.required]); }
    if (person.birth_date && person.birth_date > today()) { errors.push(["birth_date", this.t.future]); }
    this.showErrors(form, errors);
    if (errors.length) { return; }
    const op = await this.record({ kind: "register", checkin_id: uuid(), person, label: fullName(person) });
    form.reset();
    this.say(fmt(this.t.registered, { name: op.label }));
    fieldOf(form, "family_name").focus();
  };

  Console.prototype.onCode = async function (form) {
    if (!this.db) { this.say(this.t.noStorage, true); return; }
    const input = fieldOf(form, "code");
    const code = input.value.trim().replace(/\/+$/, "").split("/").pop();
    this.showErrors(form, code ? [] : [["code", this.t.codeRequired]]);
    if (!code) { return; }
    await this.record({ kind: "checkin_code", checkin_id: uuid(), code, label: fmt(this.t.codeLabel, { code }) });
    form.reset();
    this.say(fmt(this.t.checkedIn, { code }));
    input.focus();
  };

  Console.prototype.rowOf = function (checkinId) {
    return this.rows().find((row) => row.checkin_id === checkinId);
  };

  Console.prototype.onCheckout = async function (checkinId) {
    const row = this.rowOf(checkinId);
    if (!row) { return; }
    const label = fullName(row);
    await this.record({ kind: "checkout", checkin_id: checkinId, label });
    this.say(fmt(this.t.checkedOut, { name: label }));
    const heading = this.root.querySelector("#roster-title");
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  };

  Console.prototype.openNeeds = function (checkinId) {
    const row = this.rowOf(checkinId);
    const dialog = this.root.querySelector("#needs-dialog");
    if (!row || !dialog) { return; }
    this.needsTarget = { checkinId, label: fullName(row), base: (row.needs || []).slice() };
    this.root.querySelector("#needs-title").textContent = fmt(this.t.needsOf, { name: this.needsTarget.label });
    dialog.querySelectorAll("input[name=needs]").forEach((box) => { box.checked = row.needs.includes(box.value); });
    dialog.returnValue = "";
    dialog.showModal();
  };

  Console.prototype.closeNeeds = async function (dialog) {
    const target = this.needsTarget;
    this.needsTarget = null;
    if (!target || dialog.returnValue !== "save") { return; }
    const chosen = Array.from(dialog.querySelectorAll("input[name=needs]:checked"), (box) => box.value);
    const added = chosen.filter((need) => !target.base.includes(need));
    const removed = target.base.filter((need) => !chosen.includes(need));
    if (!added.length && !removed.length) { return; }
    await this.record({ kind: "needs", checkin_id: target.checkinId, needs_added: added, needs_removed: removed, label: target.label });
    this.say(fmt(this.t.needsSaved, { name: target.label }));
  };

  Console.prototype.clearDevice = async function () {
    if (this.ops.length) { this.say(this.t.clearRefused, true); return; }
    const opening = this.cfg.openingId;
    await write(this.db, [
      ["delete", "kv", "roster:" + opening],
      ["delete", "kv", "lastSync:" + opening],
    ].concat(this.notes.map((note) => ["delete", "notes", note.id])));
    await this.load();
    this.render();
    this.say(this.t.cleared);
  };

  Console.prototype.onClick = async function (button) {
    const action = button.dataset.action;
    const op = this.ops.find((candidate) => candidate.id === button.dataset.op);
    if (action === "checkout") { await this.onCheckout(button.dataset.checkin); }
    if (action === "needs") { this.openNeeds(button.dataset.checkin); }
    if (action === "cancel" && op && op.state === "pending" && !this.syncing) { await this.forget(op); }
    if (action === "discard" && op) { await this.forget(op); }
    if (action === "retry" && op) {
      const again = Object.assign({}, op, { state: "pending", error: null });
      await write(this.db, [["put", "ops", again]]);
      await this.load();
      this.render();
      this.sync(false);
    }
    if (action === "dismiss") {
      await write(this.db, [["delete", "notes", button.dataset.note]]);
      this.notes = this.notes.filter((note) => note.id !== button.dataset.note);
      this.render();
    }
  };

  Console.prototype.guard = function (work) {
    return (...args) => Promise.resolve()
      .then(() => work(...args))
      .catch((error) => {
        console.warn("offline console", error);
        this.say(String((error && error.message) || error), true);
      });
  };

  Console.prototype.bind = function () {
    const register = this.root.querySelector("#register-form");
    if (register) {
      register.addEventListener("submit", (event) => { event.preventDefault(); this.guard(() => this.onRegister(register))(); });
    }
    const code = this.root.querySelector("#code-form");
    if (code) {
      code.addEventListener("submit", (event) => { event.preventDefault(); this.guard(() => this.onCode(code))(); });
    }
    this.root.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action]");
      if (button && this.db) { this.guard(() => this.onClick(button))(); }
    });
    const dialog = this.root.querySelector("#needs-dialog");
    if (dialog) {
      dialog.addEventListener("close", () => { this.guard(() => this.closeNeeds(dialog))(); });
    }
    this.root.querySelector("#sync-now").addEventListener("click", () => {
      this.reachable = true;
      this.guard(() => this.sync(true))();
    });
    this.root.querySelector("#clear-data").addEventListener("click", () => {
      if (this.db) { this.guard(() => this.clearDevice())(); }
    });
  };

  document.addEventListener("DOMContentLoaded", () => {
    const root = document.getElementById("offline-console");
    if (root) {
      new Console(root).start().catch((error) => console.warn("offline console", error));
    } else {
      startWorker(document.querySelector("[data-sw-url]"));
    }
  });
})();
