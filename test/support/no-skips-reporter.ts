// A vitest reporter for CI: under CI=true a skipped test fails the run, naming it. A check that
// skips where its tool is missing (Chromium, say) would otherwise pass CI unseen; .ci/run
// installs what the suite needs, so on CI nothing may skip.
import type { Reporter, TestModule } from 'vitest/node';

export default class NoSkipsReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    if (process.env.CI !== 'true') return;
    const skipped = modules.flatMap((m) => [...m.children.allTests('skipped')].map((t) => `${m.project.name}: ${m.relativeModuleId} > ${t.fullName}`));
    if (skipped.length === 0) return;
    console.error(`\n[CI] ${skipped.length} test(s) skipped, which CI does not allow (install what they need in .ci/run):\n  ${skipped.join('\n  ')}\n`);
    process.exitCode = 1;
  }
}
