// gridwall console: this browser as an enrolled terminal (端末).
//
// The terminal key file issued at enrolment is imported ONCE into WebCrypto as a
// non-extractable Ed25519 key and kept in this browser's IndexedDB: no script (ours or
// anyone's) can read the private key back. Before every request the page needs, a fresh
// terminal token "gwt1.<payload>.<signature>" (the format of gridwall.identity._keys) is
// signed and put in the gw_terminal cookie, which the server checks exactly like the
// API's X-Gridwall-Terminal header. Tokens are re-signed every 60 s (they are accepted
// for 300 s). No inline script: this file is loaded from /console/static under the CSP.
"use strict";
(function () {
  var DB = "gridwall-terminal", STORE = "keys", ID = "terminal", PENDING = "pending";
  var PKCS8_ED25519 = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65,
    0x70, 0x04, 0x22, 0x04, 0x20];

  function db() {
    return new Promise(function (ok, fail) {
      var rq = indexedDB.open(DB, 1);
      rq.onupgradeneeded = function () { rq.result.createObjectStore(STORE); };
      rq.onsuccess = function () { ok(rq.result); };
      rq.onerror = function () { fail(rq.error); };
    });
  }
  function idb(mode, fn) {
    return db().then(function (d) {
      return new Promise(function (ok, fail) {
        var tx = d.transaction(STORE, mode), rq = fn(tx.objectStore(STORE));
        tx.oncomplete = function () { ok(rq.result); };
        tx.onerror = function () { fail(tx.error); };
      });
    });
  }
  function b64url(bytes) {
    var s = "";
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function utf8(text) { return new TextEncoder().encode(text); }
  function hexBytes(hex) {
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new Error("not an Ed25519 key");
    var out = new Uint8Array(32);
    for (var i = 0; i < 32; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
    return out;
  }
  function sign(entry) {
    var ts = Math.floor(Date.now() / 1000);
    var payload = b64url(utf8(JSON.stringify({ id: entry.device_id, t: ts })));
    var statement = utf8("gridwall-terminal/v1|" + entry.device_id + "|" + ts);
    return crypto.subtle.sign({ name: "Ed25519" }, entry.key, statement).then(function (sig) {
      var token = "gwt1." + payload + "." + b64url(new Uint8Array(sig));
      document.cookie = "gw_terminal=" + token + "; path=/console; SameSite=Strict; max-age=300" +
        (location.protocol === "https:" ? "; Secure" : "");
      return entry;
    });
  }
  function status(state, device) {
    var el = document.getElementById("terminal-status");
    if (!el) return;
    el.textContent = el.getAttribute("data-" + state) + (device ? " " + device : "");
    el.setAttribute("data-state", state);
  }
  function load() {
    return idb("readonly", function (s) { return s.get(ID); });
  }
  function refresh() {
    return load().then(function (entry) {
      if (!entry) { status("none"); return null; }
      return sign(entry).then(function () { status("ready", entry.device_id); return entry; });
    }).catch(function () { status("failed"); });
  }
  function enrol(file) {
    return file.text().then(function (text) {
      var obj = JSON.parse(text);
      if (obj.kind !== "terminal" || typeof obj.id !== "string") throw new Error("not a terminal key");
      var raw = new Uint8Array(PKCS8_ED25519.length + 32);
      raw.set(PKCS8_ED25519, 0);
      raw.set(hexBytes(obj.ed25519_private_key), PKCS8_ED25519.length);
      return crypto.subtle.importKey("pkcs8", raw, { name: "Ed25519" }, false, ["sign"])
        .then(function (key) {
          var entry = { device_id: obj.id, key: key };
          return idb("readwrite", function (s) { return s.put(entry, ID); });
        });
    }).then(refresh);
  }
  function hex(bytes) {
    var s = "";
    for (var i = 0; i < bytes.length; i++) s += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return s;
  }
  // Enrolment (the administrator's page): a fresh Ed25519 key pair generated HERE with a
  // non-extractable private key; only the public key and a signature of
  // "gridwall-enrol/v1|device|key" (proof that this browser holds the private key) are
  // posted. The key is kept as this browser's PENDING key: the current one keeps signing
  // the administrator's session; on the sign-in page the pending key takes over.
  function generate(form) {
    var device = form.querySelector("[data-enrol-device]").value.trim();
    var pair, pub;
    return crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"])
      .then(function (p) { pair = p; return crypto.subtle.exportKey("raw", p.publicKey); })
      .then(function (raw) {
        pub = hex(new Uint8Array(raw));
        var statement = utf8("gridwall-enrol/v1|" + device + "|" + pub);
        return crypto.subtle.sign({ name: "Ed25519" }, pair.privateKey, statement);
      })
      .then(function (sig) {
        form.querySelector("[name=public_key]").value = pub;
        form.querySelector("[name=proof]").value = b64url(new Uint8Array(sig));
        var entry = { device_id: device, key: pair.privateKey };
        return idb("readwrite", function (s) { return s.put(entry, PENDING); });
      });
  }
  function enrolStatus(state) {
    var el = document.getElementById("enrol-status");
    if (!el) return;
    el.textContent = el.getAttribute("data-" + state);
    el.setAttribute("data-state", state);
  }
  // signed out: a key enrolled from this browser takes over from the previous one
  function promote() {
    return idb("readonly", function (s) { return s.get(PENDING); }).then(function (entry) {
      if (!entry) return null;
      return idb("readwrite", function (s) { s.delete(PENDING); return s.put(entry, ID); });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var forms = document.querySelectorAll("form.enrol-form");
    enrolStatus("none");
    Array.prototype.forEach.call(forms, function (f) {
      f.addEventListener("submit", function (ev) {
        ev.preventDefault();
        enrolStatus("working");
        generate(f).then(function () { f.submit(); }, function () { enrolStatus("failed"); });
      });
    });
    var form = document.getElementById("terminal-form");
    if (form) {
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var input = document.getElementById("terminal-key");
        if (input && input.files && input.files[0]) {
          enrol(input.files[0]).catch(function () { status("failed"); });
        }
      });
    }
    (form ? promote().catch(function () { return null; }) : Promise.resolve(null))
      .then(refresh);
    setInterval(refresh, 60000);
  });
})();
