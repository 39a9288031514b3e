import base from '../vitest.config.js';

/**
 * The project's vitest config, with the JSON report written where HOOKWARDEN_TEST_REPORT says:
 * scripts/test.sh runs the suite more than once (Node 20, Node 24, the chaos run) and keeps
 * one report per run for .ci/run to add up.
 */
const report = process.env.HOOKWARDEN_TEST_REPORT;

export default {
  ...base,
  test: {
    ...base.test,
    reporters: report ? ['default', ['json', { outputFile: report }]] : base.test?.reporters,
  },
};
