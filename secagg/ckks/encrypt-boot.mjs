// piscina's task module for CKKS encryption: loads the task runner once per worker (through tsx
// when running from sources), which loads node-seal once per worker.
let runTask;

export default async function run(task) {
  if (runTask === undefined) {
    if (task.entry.endsWith(".ts")) {
      const { register } = await import("tsx/esm/api");
      register();
    }
    runTask = (await import(task.entry)).runEncryptTask;
  }
  return runTask(task);
}
