// Chart.js (vendored: /vendor/chart.js/chart.umd.js, chart.js@4.5.1, MIT), loaded once on demand.
let loading = null;

export function loadChart() {
  if (window.Chart) return Promise.resolve(window.Chart);
  loading ??= new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = '/vendor/chart.js/chart.umd.js';
    script.onload = () => resolve(window.Chart);
    script.onerror = () => { loading = null; reject(new Error('the chart library could not be loaded')); };
    document.head.append(script);
  });
  return loading;
}

/** A chart in a new canvas (with a text alternative for screen readers). */
export async function chart(host, label, config) {
  const Chart = await loadChart();
  const canvas = document.createElement('canvas');
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', label);
  const box = document.createElement('div');
  box.className = 'chart';
  box.append(canvas);
  host.append(box);
  return new Chart(canvas, { ...config, options: { animation: false, responsive: true, maintainAspectRatio: false, ...(config.options || {}) } });
}
