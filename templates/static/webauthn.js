// WebAuthn for ferrid's pages (the one script a page needs): reads the
// options the server put in <script type="application/json"
// id="webauthn-options">, asks the browser for a passkey (create or get, as
// the form's data-ceremony says), and posts its answer, as JSON with
// base64url fields, in the form #webauthn-form.
(function () {
  "use strict";
  var data = document.getElementById("webauthn-options");
  var form = document.getElementById("webauthn-form");
  var button = document.getElementById("webauthn-start");
  var status = document.getElementById("webauthn-status");
  if (!data || !form || !button) return;
  if (!window.PublicKeyCredential) {
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
  async function ceremony() {
    // Parsed afresh each time: a second try starts from the server's words.
    var options = JSON.parse(data.textContent).publicKey;
    options.challenge = bytes(options.challenge);
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
    var got = await navigator.credentials.get({ publicKey: options });
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
  button.hidden = false;
  button.addEventListener("click", function () {
    if (status) status.textContent = "Waiting for your passkey…";
    ceremony().then(function (answer) {
      form.elements.credential.value = JSON.stringify(answer);
      form.submit();
    }, function (error) {
      if (status) status.textContent = "The passkey was not used (" + error.name + "). You can try again.";
    });
  });
})();
