/* The project page: copy buttons, the hidden admin key, code tabs and live numbers.
 *
 * Every text shown to the user comes from data-t-* attributes of #project-page, which the
 * template fills with translated strings. The admin key is fetched with a POST (CSRF token in
 * the header) only when asked for, and only ever set as textContent.
 */
(function () {
  "use strict";

  var page = document.getElementById("project-page");
  if (!page) return;
  var t = page.dataset;
  var POLL_MS = 5000;

  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, function (match, name) {
      return name in values ? values[name] : match;
    });
  }

  function flash(button, text) {
    var original = button.dataset.label || button.textContent;
    button.dataset.label = original;
    button.textContent = text;
    clearTimeout(button._flash);
    button._flash = setTimeout(function () {
      button.textContent = original;
    }, 1500);
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain http (a dev server on a LAN address): the old way.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try {
        ok = document.execCommand("copy");
      } catch (e) {
        ok = false;
      }
      document.body.removeChild(area);
      if (ok) resolve();
      else reject(new Error("copy failed"));
    });
  }

  function copyFrom(button, text) {
    copyText(text).then(
      function () { flash(button, t.tCopied); },
      function () { window.alert(t.tCopyFailed); }
    );
  }

  // --- Copy buttons ---------------------------------------------------------------------

  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.querySelector(button.dataset.copy);
      if (source) copyFrom(button, source.textContent);
    });
  });

  // --- The admin key --------------------------------------------------------------------

  var keyBox = document.getElementById("admin-key");
  var revealButton = page.querySelector("[data-reveal-key]");
  var copyKeyButton = page.querySelector("[data-copy-key]");
  var key = null;
  var shown = false;

  // A secret the page does not hold (the admin key, the webhook signing secret) comes from a
  // POST when asked for, never from a GET.
  function fetchSecret(url, field) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": t.csrfToken, Accept: "application/json" },
    })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (body) {
        if (typeof body[field] !== "string") throw new Error("no " + field);
        return body[field];
      });
  }

  function fetchKey() {
    if (key !== null) return Promise.resolve(key);
    return fetchSecret(t.keyUrl, "admin_key").then(function (value) {
      key = value;
      return key;
    });
  }

  function showKey(visible) {
    shown = visible;
    keyBox.textContent = visible ? key : keyBox.dataset.masked;
    revealButton.textContent = visible ? t.tHide : t.tReveal;
    revealButton.setAttribute("aria-pressed", visible ? "true" : "false");
  }

  if (keyBox && revealButton) {
    revealButton.addEventListener("click", function () {
      if (shown) return showKey(false);
      revealButton.disabled = true;
      fetchKey()
        .then(function () { showKey(true); })
        .catch(function () { window.alert(t.tKeyFailed); })
        .then(function () { revealButton.disabled = false; });
    });
  }

  if (copyKeyButton) {
    copyKeyButton.addEventListener("click", function () {
      if (key !== null) return copyFrom(copyKeyButton, key);
      copyKeyButton.disabled = true;
      fetchKey()
        .then(function (value) {
          copyKeyButton.disabled = false;
          copyFrom(copyKeyButton, value);
        })
        .catch(function () {
          copyKeyButton.disabled = false;
          window.alert(t.tKeyFailed);
        });
    });
  }

  // --- The webhook signing secret (like the key: fetched with a POST when asked for) -------

  var secretBox = document.getElementById("webhook-secret");
  var revealSecret = page.querySelector("[data-reveal-secret]");
  var secret = null;

  if (secretBox && revealSecret) {
    revealSecret.addEventListener("click", function () {
      if (secret !== null && secretBox.textContent === secret) {
        secretBox.textContent = secretBox.dataset.masked;
        revealSecret.textContent = t.tReveal;
        return;
      }
      revealSecret.disabled = true;
      fetchSecret(t.secretUrl, "secret")
        .then(function (value) {
          secret = value;
          secretBox.textContent = secret;
          revealSecret.textContent = t.tHide;
        })
        .catch(function () { window.alert(t.tSecretFailed); })
        .then(function () { revealSecret.disabled = false; });
    });
  }

  // --- Code tabs ------------------------------------------------------------------------

  document.querySelectorAll("[data-tabs]").forEach(function (list) {
    var tabs = Array.prototype.slice.call(list.querySelectorAll("[role=tab]"));

    function select(tab, focus) {
      tabs.forEach(function (other) {
        var on = other === tab;
        other.setAttribute("aria-selected", on ? "true" : "false");
        other.tabIndex = on ? 0 : -1;
        document.getElementById(other.getAttribute("aria-controls")).hidden = !on;
      });
      if (focus) tab.focus();
    }

    tabs.forEach(function (tab, index) {
      tab.addEventListener("click", function () { select(tab, false); });
      tab.addEventListener("keydown", function (event) {
        var step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
        if (!step) return;
        event.preventDefault();
        select(tabs[(index + step + tabs.length) % tabs.length], true);
      });
    });
    // Without JavaScript every example shows, one under the other.
    list.hidden = false;
    select(tabs[0], false);
  });

  // --- Live numbers ---------------------------------------------------------------------

  var statsStatus = page.querySelector("[data-stats-status]");
  var statCells = page.querySelectorAll("[data-stat]");
  var timer = null;

  function lookup(body, path) {
    return path.split(".").reduce(function (value, part) {
      return value == null ? undefined : value[part];
    }, body);
  }

  function refresh() {
    fetch(t.statsUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (body) {
        statCells.forEach(function (cell) {
          var value = lookup(body, cell.dataset.stat);
          if (typeof value === "number") cell.textContent = value.toLocaleString();
        });
        statsStatus.textContent = format(t.tStatsUpdated, {
          time: new Date().toLocaleTimeString(),
        });
      })
      .catch(function () {
        statsStatus.textContent = t.tStatsFailed;
      })
      .then(schedule);
  }

  function schedule() {
    clearTimeout(timer);
    timer = document.hidden ? null : setTimeout(refresh, POLL_MS);
  }

  if (statCells.length && t.statsUrl) {
    // A hidden tab stops polling and catches up when it shows again.
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && timer === null) refresh();
      else if (document.hidden) {
        clearTimeout(timer);
        timer = null;
      }
    });
    schedule();
  }
})();
