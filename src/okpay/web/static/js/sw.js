// OKPay's service worker (served from /sw.js so its scope is the whole site).
//
// It keeps ONLY the static shell (styles, scripts, the logo) and the offline page, so that
// a page that cannot be reached shows /offline instead of the browser's error. It never
// stores a page or an API answer: balances, history and requests always come from the
// server, and nothing about an account is left on the device.
"use strict";

var CACHE = "okpay-shell-__SHELL_VERSION__";
var SHELL = __SHELL_ASSETS__;

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(CACHE)
      .then(function (cache) {
        // Fetched without credentials: the shell is the same for everyone.
        return cache.addAll(SHELL.map(function (url) {
          return new Request(url, { credentials: "omit", cache: "no-cache" });
        }));
      })
      .then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys()
      .then(function (names) {
        return Promise.all(names.map(function (name) {
          if (name.indexOf("okpay-") === 0 && name !== CACHE) { return caches.delete(name); }
          return null;
        }));
      })
      .then(function () { return self.clients.claim(); })
  );
});

function isShellAsset(url) {
  return url.origin === self.location.origin && SHELL.indexOf(url.pathname) !== -1;
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  if (request.mode === "navigate") {
    // Pages always come from the network; only when that fails, the offline page.
    event.respondWith(
      fetch(request).catch(function () {
        return caches.open(CACHE).then(function (cache) { return cache.match("/offline"); });
      })
    );
    return;
  }
  var url = new URL(request.url);
  if (isShellAsset(url)) {
    // The network first (a deploy is seen at once), the stored copy when offline.
    event.respondWith(
      fetch(request).catch(function () {
        return caches.open(CACHE).then(function (cache) {
          return cache.match(url.pathname).then(function (hit) {
            return hit || Response.error();
          });
        });
      })
    );
  }
  // Anything else (API calls, uploads, other pages' data) is left to the browser.
});
