// The redeem page's as-you-type check: the format here (the same rules as the server: alphabet,
// length, Luhn mod 32 check symbol), then whether the code redeems, asked of the server once the
// code is complete. Without JavaScript the form still works: the server checks on submit.
// What it says comes from the page (data-words), in the page's language.
(function () {
  "use strict";
  var ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  var LENGTH = 25;
  var LOOK_ALIKES = {"0": "zero", "1": "one", "O": "letterO", "I": "letterI"};
  var input = document.getElementById("code");
  var status = document.getElementById("code-status");
  if (!input || !status || !input.form || !window.fetch) {
    return;
  }
  var form = input.form;
  var checkUrl = form.getAttribute("data-check-url");
  var words = JSON.parse(form.getAttribute("data-words") || "{}");
  var csrf = form.querySelector("input[name=csrf_token]");
  var asked = null;
  var timer = null;

  // The page's words for `key`, with {name} placeholders filled from `values`.
  function phrase(key, values) {
    return (words[key] || key).replace(/\{(\w+)\}/g, function (whole, name) {
      return values && name in values ? String(values[name]) : whole;
    });
  }

  function normalize(text) {
    return text.toUpperCase().replace(/[\s-]/g, "");
  }

  function checkSymbol(data) {
    var total = 0;
    var factor = 2;
    for (var i = data.length - 1; i >= 0; i--) {
      var addend = factor * ALPHABET.indexOf(data.charAt(i));
      total += Math.floor(addend / ALPHABET.length) + addend % ALPHABET.length;
      factor = 3 - factor;
    }
    return ALPHABET.charAt((ALPHABET.length - total % ALPHABET.length) % ALPHABET.length);
  }

  // What is wrong with the code so far ({text, kind}), or null when it is complete and
  // well-formed. An incomplete code is not an error yet.
  function formatProblem(code) {
    for (var i = 0; i < code.length; i++) {
      var ch = code.charAt(i);
      if (LOOK_ALIKES[ch]) {
        return {text: phrase("lookAlike", {what: phrase(LOOK_ALIKES[ch])}), kind: "bad"};
      }
      if (ALPHABET.indexOf(ch) < 0) {
        return {text: phrase("notInCodes", {character: ch}), kind: "bad"};
      }
    }
    if (code.length < LENGTH) {
      return {text: phrase("progress", {count: code.length, length: LENGTH}), kind: "info"};
    }
    if (code.length > LENGTH) {
      return {text: phrase("tooLong", {count: code.length, length: LENGTH}), kind: "bad"};
    }
    if (checkSymbol(code.slice(0, -1)) !== code.charAt(LENGTH - 1)) {
      return {text: phrase("typo"), kind: "bad"};
    }
    return null;
  }

  function say(text, kind) {
    status.textContent = text;
    status.className = kind === "bad" ? "field-error" : "hint";
  }

  function askServer(code) {
    asked = code;
    say(phrase("checking"), "info");
    fetch(checkUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf ? csrf.value : ""},
      body: JSON.stringify({code: code})
    }).then(function (response) {
      if (!response.ok) {
        throw new Error(String(response.status));
      }
      return response.json();
    }).then(function (result) {
      if (asked !== code) {
        return;  // typed on meanwhile
      }
      if (result.redeemable) {
        var product = result.productPackage || {};
        say(product.name ? phrase("validFor", {product: product.displayName || product.name})
                         : phrase("valid"), "good");
      } else {
        say(result.detail || phrase("notRedeemable"), "bad");
      }
    }).catch(function () {
      if (asked === code) {
        say("", "info");  // the server checks again on submit
      }
    });
  }

  input.addEventListener("input", function () {
    window.clearTimeout(timer);
    var code = normalize(input.value);
    if (!code) {
      asked = null;
      say("", "info");
      return;
    }
    var problem = formatProblem(code);
    if (problem) {
      asked = null;
      say(problem.text, problem.kind);
      return;
    }
    if (code !== asked) {
      timer = window.setTimeout(function () { askServer(code); }, 250);
    }
  });
})();
