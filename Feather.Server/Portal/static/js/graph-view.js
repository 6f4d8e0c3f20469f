// The graph of steps of a model with branches and loops (metadata.graph, docs/contracts.md section 1), for the model
// page: each step with where it goes next (the branch's name, a loop's bound, the end of the run), as a list that
// reads in order for everyone (screen readers included), with arrows for the eye.
import { h } from './dom.js';

/** A figure showing the graph of steps, or null for a linear model. */
export function stepGraph(metadata) {
  const graph = metadata?.graph;
  if (!graph) return null;
  const titles = Object.fromEntries(metadata.steps.map((s) => [s.name, s.title || s.name]));
  const loops = Object.fromEntries((graph.loops || []).map((l) => [l.step, l.max]));
  const target = (to) => (to ? h('span.graph-step', {}, titles[to] || to) : h('span.graph-end', {}, 'end of the run'));
  const routes = (name) => graph.edges.filter((e) => e.from === name).map((e) => {
    if (e.when === 'again' && e.to === name && loops[name])
      return h('li', {}, '↻ ', h('em', {}, 'again'), ` on its own result, at most ${loops[name]} times in a row`);
    const when = e.when === 'done' && loops[name] ? 'done (the model or you end the loop)' : e.when;
    return h('li', {}, '→ ', when ? [h('em', {}, when), ': '] : null, target(e.to));
  });
  return h('figure.step-graph', {},
    h('figcaption', {}, 'Graph of steps: which step comes next depends on what a step returned.'),
    h('ol', {}, metadata.steps.map((s) => h('li', { 'data-step': s.name },
      h('strong', {}, titles[s.name]), s.name === graph.start ? h('span.badge', {}, 'start') : null,
      loops[s.name] ? h('span.badge', {}, `loop ≤ ${loops[s.name]}`) : null,
      h('ul', {}, routes(s.name))))));
}

/** The model page's one-line summary of the steps: in order for a linear model, with the branch points for a graph. */
export function stepsSummary(metadata) {
  if (!metadata) return '–';
  if (!metadata.graph) return metadata.steps.map((s) => s.title || s.name).join(' → ');
  const branching = new Set(metadata.graph.edges.filter((e) => e.when && e.when !== 'again' && e.when !== 'done').map((e) => e.from));
  const loops = new Set((metadata.graph.loops || []).map((l) => l.step));
  return metadata.steps.map((s) => `${s.title || s.name}${branching.has(s.name) ? ' (branches)' : ''}${loops.has(s.name) ? ' (loop)' : ''}`)
    .join(', ') + ' — see the graph of steps below';
}
