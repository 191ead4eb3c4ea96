// WebAuthn for ferrid's pages (the one script a page needs): reads the
// options the server put in <script type="application/json"
// id="webauthn-options">, asks the browser for a passkey (create or get, as
// the form's data-ceremony says), and posts its answer, as JSON with
// base64url fields, in the form #webauthn-form.
//
// data-ceremony="discover" is the sign-in page's passkey sign-in, with no
// username: on load, where the browser can, a conditional request offers
// the site's passkeys in the username field's autofill
// (autocomplete="username webauthn"); the button asks plainly (it ends the
// conditional request first: one request at a time). The form says how
// the conditional request went in data-conditional ("waiting",
// "answered", "ended"), for people and tests reading the page.
(function () {
  "use strict";
  var data = document.getElementById("webauthn-options");
  var form = document.getElementById("webauthn-form");
  var button = document.getElementById("webauthn-start");
  var status = document.getElementById("webauthn-status");
  if (!data || !form || !button) return;
  if (!window.PublicKeyCredential) {
    // Said where the passkey is the only way on (else the form stays hidden).
    if ("only" in form.dataset) form.hidden = false;
    button.hidden = true;
    if (status) status.textContent = "This browser cannot use passkeys.";
    return;
  }
  function b64(buffer) {
    var text = String.fromCharCode.apply(null, new Uint8Array(buffer));
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function bytes(text) {
    var plain = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(plain, function (c) { return c.charCodeAt(0); });
  }
  function say(text) {
    if (status) status.textContent = text;
  }
  // Parsed afresh each time: a second try starts from the server's words.
  function serverOptions() {
    var options = JSON.parse(data.textContent).publicKey;
    options.challenge = bytes(options.challenge);
    return options;
  }
  function assertion(got) {
    return {
      id: got.id, rawId: b64(got.rawId), type: got.type,
      response: {
        authenticatorData: b64(got.response.authenticatorData),
        clientDataJSON: b64(got.response.clientDataJSON),
        signature: b64(got.response.signature),
        userHandle: got.response.userHandle ? b64(got.response.userHandle) : null
      },
      extensions: got.getClientExtensionResults()
    };
  }
  function send(answer) {
    form.elements.credential.value = JSON.stringify(answer);
    form.submit();
  }
  async function ceremony(extra) {
    var options = serverOptions();
    if (form.dataset.ceremony === "create") {
      options.user.id = bytes(options.user.id);
      (options.excludeCredentials || []).forEach(function (c) { c.id = bytes(c.id); });
      var made = await navigator.credentials.create({ publicKey: options });
      return {
        id: made.id, rawId: b64(made.rawId), type: made.type,
        response: {
          attestationObject: b64(made.response.attestationObject),
          clientDataJSON: b64(made.response.clientDataJSON)
        },
        extensions: made.getClientExtensionResults()
      };
    }
    (options.allowCredentials || []).forEach(function (c) { c.id = bytes(c.id); });
    var request = { publicKey: options };
    Object.keys(extra || {}).forEach(function (k) { request[k] = extra[k]; });
    return assertion(await navigator.credentials.get(request));
  }

  // The conditional request of the sign-in page, while it waits.
  var conditional = null;
  async function offerInAutofill() {
    var field = document.querySelector("input[autocomplete$='webauthn']");
    if (!field || !PublicKeyCredential.isConditionalMediationAvailable) return;
    if (!(await PublicKeyCredential.isConditionalMediationAvailable())) return;
    var abort = new AbortController();
    var pending = ceremony({ mediation: "conditional", signal: abort.signal });
    conditional = { abort: abort, settled: pending.catch(function () {}) };
    form.dataset.conditional = "waiting";
    pending.then(function (answer) {
      form.dataset.conditional = "answered";
      say("Signing in with your passkey…");
      send(answer);
    }, function () {
      // Ended by the button, or by the browser: the button still works.
      form.dataset.conditional = "ended";
    });
  }

  async function ask() {
    if (conditional) {
      conditional.abort.abort();
      await conditional.settled;
      conditional = null;
    }
    return ceremony();
  }
  form.hidden = false;
  button.hidden = false;
  button.addEventListener("click", function () {
    say("Waiting for your passkey…");
    ask().then(send, function (error) {
      say("The passkey was not used (" + error.name + "). You can try again.");
    });
  });
  if (form.dataset.ceremony === "discover") {
    offerInAutofill().catch(function () { form.dataset.conditional = "ended"; });
  }
})();
