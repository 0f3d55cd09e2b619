// Files sent with tus (resumable uploads at /api/uploads, tus-js-client from npm): a
// dropped link pauses the upload, which goes on from where the server's copy stands
// (its HEAD) once the link is back, instead of starting again.

const ENDPOINT = "/api/uploads";
// Keeps trying across drops for about five minutes: quickly at first, then every 10 s.
export const RETRY_DELAYS = [0, 1000, 3000, 5000, ...Array(28).fill(10000)];
// No byte went out for this long: the link is taken as down (a cut link can leave a
// request hanging for minutes), the request is dropped and the upload resumed.
const STALL_MS = 15000;
// Without a byte acknowledged for this long, the upload gives up (and says so).
const GIVE_UP_MS = 6 * 60 * 1000;
const TUS = { "Tus-Resumable": "1.0.0" };

let loaded = null;
function tus() {
  // The UMD build sets window.tus; loaded on first use, not with every page.
  loaded ??= import("/vendor/tus.min.js").then(() => window.tus);
  return loaded;
}

export class UploadRefused extends Error {
  constructor(status, message, code = null) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function refusalOf(err) {
  const response = err?.originalResponse;
  if (!response) return null;
  const status = response.getStatus();
  if (status < 400 || status >= 500 || status === 409 || status === 423) return null;
  let body = {};
  try {
    body = JSON.parse(response.getBody() || "{}");
  } catch {
    body = {};
  }
  return new UploadRefused(status, body.error || `HTTP ${status}`, body.code ?? null);
}

// The largest upload the server takes (Tus-Max-Size), or null if it does not say.
export async function maxSize() {
  try {
    const response = await fetch(ENDPOINT, { method: "OPTIONS", credentials: "same-origin" });
    const value = Number(response.headers.get("Tus-Max-Size"));
    return Number.isFinite(value) && value > 0 ? value : null;
  } catch {
    return null;
  }
}

// One file to the server: resolves with the upload's id once every byte is there.
// onProgress(bytesSent); onState("sending" | "paused"). A refusal (4xx other than
// 409/423) rejects with UploadRefused; anything else is tried again until the delays
// run out.
export async function sendResumable(file, { onProgress = () => {}, onState = () => {} } = {}) {
  const { Upload } = await tus();
  return new Promise((resolve, reject) => {
    let watchdog = null;
    let settled = false;
    let progressed = Date.now();
    const upload = new Upload(file, {
      endpoint: ENDPOINT,
      retryDelays: RETRY_DELAYS,
      metadata: { filename: file.name, filetype: file.type || "application/octet-stream" },
      storeFingerprintForResuming: false,
      onProgress: (sent) => {
        progressed = Date.now();
        onState("sending");
        onProgress(sent);
        watch();
      },
      onShouldRetry: (err) => {
        if (refusalOf(err)) return false;
        onState("paused");
        watch();
        return true;
      },
      onError: (err) => finish(() => reject(refusalOf(err) ?? err)),
      onSuccess: () => finish(() => resolve(upload.url.split("/").pop())),
    });
    function finish(then) {
      settled = true;
      clearTimeout(watchdog);
      then();
    }
    function watch() {
      clearTimeout(watchdog);
      watchdog = setTimeout(async () => {
        if (settled) return;
        onState("paused");
        await upload.abort(false); // the server keeps what arrived
        if (Date.now() - progressed > GIVE_UP_MS) {
          finish(() => reject(new Error("the link stayed down")));
          return;
        }
        if (!settled) {
          upload.start(); // HEAD, then on from the server's offset
          watch();
        }
      }, STALL_MS);
    }
    onState("sending");
    upload.start();
    watch();
  });
}

// A held upload the user chose not to file: the server's copy goes too.
export async function discardUpload(id) {
  await fetch(`${ENDPOINT}/${encodeURIComponent(id)}`, { method: "DELETE", headers: TUS, credentials: "same-origin" }).catch(() => null);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// POST {uploads, confirm_patient} to a route that files them; a network failure is
// tried again like the upload (the uploads wait on the server), an answer is returned.
export async function fileUploads(url, ids, { confirm = false, onState = () => {} } = {}) {
  let last = null;
  for (const delay of RETRY_DELAYS) {
    await sleep(delay);
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        credentials: "same-origin",
        body: JSON.stringify({ uploads: ids, confirm_patient: confirm }),
        signal: AbortSignal.timeout(120000),
      });
      return await response.json().catch(() => ({ error: response.statusText || `HTTP ${response.status}` }));
    } catch (err) {
      last = err;
      onState("paused");
    }
  }
  return { error: last?.message ?? "upload failed" };
}
