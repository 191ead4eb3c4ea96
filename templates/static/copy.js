// Copy buttons: `<button data-copy="ID" hidden>` copies the value (or the
// text) of the element ID. Hidden until this script shows it, so a browser
// without script never sees a button that does nothing.
for (const button of document.querySelectorAll('button[data-copy]')) {
  button.hidden = false;
  button.addEventListener('click', async () => {
    const source = document.getElementById(button.dataset.copy);
    const text = 'value' in source ? source.value : source.textContent;
    try {
      // Only in a secure context (HTTPS, or localhost)...
      await navigator.clipboard.writeText(text);
    } catch {
      // ...and on plain HTTP at home, the older way: select, then copy.
      if ('select' in source) {
        source.select();
      } else {
        const range = document.createRange();
        range.selectNodeContents(source);
        getSelection().removeAllRanges();
        getSelection().addRange(range);
      }
      document.execCommand('copy');
    }
    button.textContent = 'Copied';
  });
}
