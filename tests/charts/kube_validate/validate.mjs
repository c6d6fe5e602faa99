// validate.mjs: validates Kubernetes objects against the Kubernetes OpenAPI
// schemas (kubernetes-models) and the prometheus-operator CRD schemas
// (@kubernetes-models/prometheus-operator: monitoring.coreos.com/v1).
//
//   node validate.mjs FILE.json   FILE.json: a JSON array of objects (yaml2json)
//   node validate.mjs --self-test proves a good Deployment passes and known-bad
//                                 objects are rejected
//
// The schema is chosen by apiVersion + kind: any built-in kind that
// kubernetes-models has (apps/v1 Deployment, v1 Service/ConfigMap/Secret/
// ServiceAccount, autoscaling/v2 HorizontalPodAutoscaler, policy/v1
// PodDisruptionBudget, networking.k8s.io/v1 NetworkPolicy, ...) and
// monitoring.coreos.com/v1 ServiceMonitor/PrometheusRule/.... An object whose
// apiVersion/kind has no schema here is invalid, never skipped; so is one
// without metadata.name. Prints one line per object, in input order:
//   ok <kind>/<name>
//   invalid <kind>/<name>: <json path>: <message>[; <json path>: <message>]...
// Exit 0 when all are ok, 1 when any is invalid, the input is unreadable, not
// an array, or empty (validating nothing proves nothing).
// Limitation: like kubeconform without -strict, unknown fields are not
// reported (the Kubernetes schemas allow them).
import { readFileSync } from "node:fs";

const API_VERSION = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?v[0-9]+((alpha|beta)[0-9]+)?$/;
const KIND = /^[A-Z][A-Za-z0-9]*$/;

// The model class for apiVersion/kind, or an error string.
async function modelFor(apiVersion, kind) {
  if (typeof apiVersion !== "string" || !API_VERSION.test(apiVersion) ||
      typeof kind !== "string" || !KIND.test(kind)) {
    return `bad apiVersion/kind ${JSON.stringify(apiVersion)}/${JSON.stringify(kind)}`;
  }
  const pkg = apiVersion.startsWith("monitoring.coreos.com/")
    ? "@kubernetes-models/prometheus-operator" : "kubernetes-models";
  let mod;
  try {
    mod = await import(`${pkg}/${apiVersion}`);
  } catch {
    mod = {};
  }
  const Model = mod[kind];
  if (typeof Model !== "function" || Model.apiVersion !== apiVersion || Model.kind !== kind) {
    return `no schema known for apiVersion ${apiVersion} kind ${kind}`;
  }
  return Model;
}

// "ok <kind>/<name>" or "invalid <kind>/<name>: ..." for one object.
export async function validateObject(obj) {
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
    return `invalid ?/?: not an object: ${JSON.stringify(obj)}`;
  }
  const name = obj.metadata?.name;
  const id = `${obj.kind ?? "?"}/${name ?? "?"}`;
  const problems = [];
  if (typeof name !== "string" || name === "") {
    problems.push("/metadata/name: is required");
  }
  const Model = await modelFor(obj.apiVersion, obj.kind);
  if (typeof Model === "string") {
    problems.push(Model);
  } else {
    try {
      new Model(obj).validate();
    } catch (e) {
      if (!Array.isArray(e.errors)) throw e;
      for (const err of e.errors) {
        problems.push(`${err.instancePath || "/"}: ${err.message}`);
      }
    }
  }
  return problems.length === 0 ? `ok ${id}` : `invalid ${id}: ${problems.join("; ")}`;
}

async function validateFile(file) {
  const objects = JSON.parse(readFileSync(file, "utf8"));
  if (!Array.isArray(objects)) throw new Error(`${file}: not a JSON array`);
  if (objects.length === 0) throw new Error(`${file}: no objects to validate`);
  let bad = 0;
  for (const obj of objects) {
    const line = await validateObject(obj);
    console.log(line);
    if (!line.startsWith("ok ")) bad++;
  }
  return bad === 0;
}

async function selfTest() {
  const deployment = (spec) => ({
    apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "d" },
    spec: {
      selector: { matchLabels: { app: "d" } },
      template: { metadata: { labels: { app: "d" } }, spec: { containers: [{ name: "c", image: "i" }] } },
      ...spec,
    },
  });
  const cases = [
    ["ok", deployment({ replicas: 2 }), "ok Deployment/d"],
    ["ok", { apiVersion: "v1", kind: "Service", metadata: { name: "s" }, spec: { ports: [{ port: 80 }] } }, "ok Service/s"],
    ["ok", { apiVersion: "monitoring.coreos.com/v1", kind: "ServiceMonitor", metadata: { name: "m" },
      spec: { selector: {}, endpoints: [{ port: "metrics" }] } }, "ok ServiceMonitor/m"],
    ["bad", deployment({ replicas: "two" }), "/spec/replicas: must be integer"],
    ["bad", deployment({ template: { spec: {} } }), "/spec/template/spec: must have required property"],
    ["bad", { ...deployment({}), metadata: {} }, "/metadata/name: is required"],
    ["bad", { apiVersion: "monitoring.coreos.com/v1", kind: "ServiceMonitor", metadata: { name: "m" },
      spec: { selector: {}, endpoints: [{ port: 9090 }] } }, "/spec/endpoints/0/port: must be string"],
    ["bad", { apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } }, "no schema known"],
    ["bad", { apiVersion: "apps/v1", kind: "DeploymentSpec", metadata: { name: "x" } }, "no schema known"],
  ];
  let passed = 0, failed = 0;
  for (const [expect, obj, needle] of cases) {
    const line = await validateObject(obj);
    const good = (expect === "ok" ? line === needle : line.startsWith("invalid ") && line.includes(needle));
    console.log(`${good ? "pass" : "FAIL"}: expected ${expect} (${needle}), got: ${line}`);
    good ? passed++ : failed++;
  }
  console.log(`self-test: ${passed} passed, ${failed} failed`);
  return failed === 0;
}

const arg = process.argv[2];
if (process.argv.length !== 3) {
  console.error("usage: node validate.mjs FILE.json | --self-test");
  process.exit(2);
}
try {
  process.exit((arg === "--self-test" ? await selfTest() : await validateFile(arg)) ? 0 : 1);
} catch (e) {
  console.error(`validate.mjs: ${e.message}`);
  process.exit(1);
}
