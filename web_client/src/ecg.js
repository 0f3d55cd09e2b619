// A 12-lead ECG on standard paper: 25 mm/s, 10 mm/mV, 1 mm and 5 mm grid, the usual
// 3 x 4 layout (2.5 s per lead) and a lead II rhythm strip underneath.

const ORDER = [["I", "aVR", "V1", "V4"], ["II", "aVL", "V2", "V5"], ["III", "aVF", "V3", "V6"]];
const PX_PER_MM = 4;

function leadKey(name) {
  // "Lead II" -> "II", "Lead I (Einthoven)" -> "I", "Lead aVR" -> "aVR"
  return name.replace(/^lead\s+/i, "").replace(/\s*\(.*\)$/, "").trim();
}

export function drawEcg(canvas, ecg) {
  const rhythm = ecg.groups.find((g) => (g.label ?? "").toUpperCase().includes("RHYTHM")) ?? ecg.groups[0];
  const leads = new Map(rhythm.leads.map((l) => [leadKey(l.name), l.samples_uv]));
  const mmWide = 250; // 10 s at 25 mm/s
  const rowMm = 30;
  canvas.width = mmWide * PX_PER_MM;
  canvas.height = rowMm * 4 * PX_PER_MM;
  // Leads actually drawn in the 3 x 4 layout (a wrong name would leave a gap).
  canvas.dataset.leads = String(ORDER.flat().filter((name) => leads.has(name)).length);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff8f6";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  for (let mm = 0; mm <= Math.max(mmWide, rowMm * 4); mm += 1) {
    ctx.strokeStyle = mm % 5 === 0 ? "#f2a39a" : "#fbd9d4";
    ctx.lineWidth = mm % 5 === 0 ? 1 : 0.5;
    ctx.beginPath();
    ctx.moveTo(mm * PX_PER_MM, 0);
    ctx.lineTo(mm * PX_PER_MM, canvas.height);
    ctx.moveTo(0, mm * PX_PER_MM);
    ctx.lineTo(canvas.width, mm * PX_PER_MM);
    ctx.stroke();
  }
  const hz = rhythm.sampling_hz;
  const trace = (samples, x0Mm, baselineMm, fromS, seconds) => {
    ctx.strokeStyle = "#111";
    ctx.lineWidth = 1.2;
    ctx.beginPath();
    const first = Math.floor(fromS * hz);
    const count = Math.min(samples.length - first, Math.floor(seconds * hz));
    for (let i = 0; i < count; i += 1) {
      const x = (x0Mm + (i / hz) * 25) * PX_PER_MM;
      const y = (baselineMm - (samples[first + i] / 1000) * 10) * PX_PER_MM; // µV -> mm
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    }
    ctx.stroke();
  };
  ctx.font = `${3 * PX_PER_MM}px sans-serif`;
  ctx.fillStyle = "#111";
  ORDER.forEach((row, r) => {
    row.forEach((name, c) => {
      const samples = leads.get(name);
      if (!samples) return;
      const x0 = c * 62.5;
      trace(samples, x0, rowMm * r + 15, c * 2.5, 2.5);
      ctx.fillText(name, (x0 + 1) * PX_PER_MM, (rowMm * r + 5) * PX_PER_MM);
    });
  });
  const strip = leads.get("II");
  if (strip) {
    trace(strip, 0, rowMm * 3 + 15, 0, 10);
    ctx.fillText("II", PX_PER_MM, (rowMm * 3 + 5) * PX_PER_MM);
  }
}

// Calipers: click two points on the paper; the interval reads in milliseconds (25 mm/s)
// and the amplitude in millivolts (10 mm/mV), as on paper.
export function attachCalipers(canvas, output) {
  const overlay = document.createElement("canvas");
  overlay.className = "calipers";
  overlay.width = canvas.width;
  overlay.height = canvas.height;
  canvas.after(overlay);
  let first = null;
  const toPaper = (event) => {
    const box = canvas.getBoundingClientRect();
    // canvas pixels -> millimetres of paper
    const x = ((event.clientX - box.left) * (canvas.width / box.width)) / PX_PER_MM;
    const y = ((event.clientY - box.top) * (canvas.height / box.height)) / PX_PER_MM;
    return { x, y };
  };
  const draw = (a, b) => {
    const ctx = overlay.getContext("2d");
    ctx.clearRect(0, 0, overlay.width, overlay.height);
    ctx.strokeStyle = "#0b5cad";
    ctx.lineWidth = 2;
    for (const p of [a, b].filter(Boolean)) {
      ctx.beginPath();
      ctx.moveTo(p.x * PX_PER_MM, 0);
      ctx.lineTo(p.x * PX_PER_MM, overlay.height);
      ctx.stroke();
    }
  };
  const pick = (event) => {
    const point = toPaper(event);
    if (!first) {
      first = point;
      draw(first, null);
      output.value = "";
      return;
    }
    const ms = (Math.abs(point.x - first.x) / 25) * 1000;
    const mv = Math.abs(point.y - first.y) / 10;
    draw(first, point);
    output.value = `Δt ${Math.round(ms)} ms · ΔV ${mv.toFixed(2)} mV`;
    output.dataset.ms = String(Math.round(ms));
    first = null;
  };
  overlay.addEventListener("click", pick);
}
