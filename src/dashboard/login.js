/** The login form: POST /login as JSON; the answer's message is shown as it is (wrong password, too many attempts). */
const form = document.getElementById('login');
const failed = document.getElementById('failed');
const why = new URLSearchParams(location.search).get('why');
if (why) {
  const note = document.getElementById('why');
  note.textContent = why.charAt(0).toUpperCase() + why.slice(1);
  note.hidden = false;
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  failed.hidden = true;
  const values = Object.fromEntries(new FormData(form).entries());
  const res = await fetch('/login', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(values), credentials: 'same-origin',
  });
  if (res.ok) {
    location.assign('/dashboard/');
    return;
  }
  const data = await res.json().catch(() => ({}));
  failed.textContent = data.error ?? `Log-in failed (HTTP ${res.status})`;
  failed.hidden = false;
  form.password.value = '';
  form.password.focus();
});
