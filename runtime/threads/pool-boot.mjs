// piscina's task module: loads the pool task runner (through tsx when running from sources).
let runTask;

export default async function run(task) {
  if (runTask === undefined) {
    if (task.entry.endsWith(".ts")) {
      const { register } = await import("tsx/esm/api");
      register();
    }
    runTask = (await import(task.entry)).runPoolTask;
  }
  return runTask(task);
}
