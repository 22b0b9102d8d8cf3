"""Writes JSON Schemas generated from the EMR service models, beside this file:

- shared/schemas/run-job-flow.schema.json: the EMR RunJobFlow request, which every rendered
  request is checked against before EMR is called;
- shared/schemas/flow-definition.schema.json: the flow definition file format itself
  (shared/flows/*.yaml): the same EMR shapes, where any number, boolean or enum may also be a
  `{{ template }}` string, plus the step short forms. The catalog check validates every
  definition against it, and editors with the YAML language server complete and check
  definitions with it (`# yaml-language-server: $schema=../schemas/flow-definition.schema.json`).

- shared/schemas/start-job-run-serverless.schema.json: the EMR Serverless StartJobRun request
  (`aws emr-serverless start-job-run --cli-input-json` shape) without `clientToken`, which
  emr-flows derives from the flow id; a definition's `serverless_job_run` is checked against it
  (see `serverless_schema`).
- shared/schemas/start-job-run-eks.schema.json: the EMR on EKS StartJobRun request (botocore's
  emr-containers model; `aws emr-containers start-job-run --cli-input-json` shape) without
  `clientToken`, likewise; a definition's `eks_job_run` is checked against it (see `eks_schema`).

The source is the EMR service model that botocore ships (the same API description the AWS SDKs
are generated from): every member, type, enum, required member and length/range limit of
RunJobFlowInput and the shapes it reaches. Members become `additionalProperties: false` objects,
so an unknown or misspelled key is an error naming its path. Regex patterns are left out (they
are Java regexes, and rendering checks what matters).

Run after upgrading botocore in dev/requirements.txt:
    .venv/bin/python shared/schemas/generate.py
"""

import gzip
import json
import pathlib

import botocore

ROOT_SHAPE = "RunJobFlowInput"
SCHEMAS = pathlib.Path(__file__).resolve().parent
OUT = SCHEMAS / "run-job-flow.schema.json"
DEFINITION_OUT = SCHEMAS / "flow-definition.schema.json"

TEMPLATE = {"$ref": "#/$defs/Template"}


def strings(description: str) -> dict:
    return {"type": "array", "items": {"type": "string"}, "description": description}


def string_map(description: str) -> dict:
    return {"type": "object", "additionalProperties": {"type": "string"}, "description": description}


def form(description: str, properties: dict, required: list[str]) -> dict:
    return {
        "type": "object",
        "additionalProperties": False,
        "description": description,
        "properties": properties,
        "required": required,
    }


def string(description: str) -> dict:
    return {"type": "string", "description": description}


# The step short forms of shared/src/steps.rs, as the README documents them.
SHORT_FORMS = {
    "spark": form(
        "spark-submit through command-runner.jar",
        {
            "application": string("the application JAR or Python file (s3://… or a path on the cluster)"),
            "class": string("--class: the main class of a JAR application"),
            "deploy_mode": {
                "anyOf": [{"enum": ["cluster", "client"]}, TEMPLATE],
                "default": "cluster",
                "description": "--deploy-mode; default cluster",
            },
            "conf": string_map("--conf KEY=VALUE, one per entry"),
            "jars": strings("--jars, joined with commas"),
            "py_files": strings("--py-files, joined with commas"),
            "args": strings("the application's arguments, passed as written"),
        },
        ["application"],
    ),
    "hive": form(
        "hive-script --run-hive-script through command-runner.jar",
        {"script": string("the HiveQL script (s3://…)"), "variables": string_map("-d NAME=VALUE, one per entry")},
        ["script"],
    ),
    "pig": form(
        "pig-script --run-pig-script through command-runner.jar",
        {"script": string("the Pig Latin script (s3://…)"), "params": string_map("-p NAME=VALUE, one per entry")},
        ["script"],
    ),
    "streaming": form(
        "hadoop-streaming through command-runner.jar",
        {
            "mapper": string("-mapper"),
            "reducer": string("-reducer"),
            "input": string("-input"),
            "output": string("-output"),
            "files": strings("-files, joined with commas"),
        },
        ["mapper", "reducer", "input", "output"],
    ),
    "jar": form(
        "a custom JAR (HadoopJarStep with Jar, MainClass, Args, Properties)",
        {
            "jar": string("the JAR (s3://… or a path on the cluster)"),
            "main_class": string("MainClass; default: the JAR's manifest"),
            "args": strings("Args, as written"),
            "properties": string_map("Properties, as Key/Value pairs"),
        },
        ["jar"],
    ),
    "script": form(
        "a script run by the region's script-runner.jar",
        {"script": string("the script (s3://…)"), "args": strings("its arguments, as written")},
        ["script"],
    ),
}

# A callback header's value: a string, or a Secrets Manager secret read at delivery (see the
# README, "Callbacks": the secret must match the stack's CallbackHeaderSecrets and carry the tag
# emr-flows:callback-host naming the URL's host).
HEADERS = {
    "type": "object",
    "description": "extra headers: each value a string, or {secret: ARN} to send a Secrets Manager secret's value",
    "additionalProperties": {
        "oneOf": [
            {"type": "string"},
            form(
                "the value of a Secrets Manager secret, read at delivery; the secret must match the stack's "
                "CallbackHeaderSecrets and be tagged emr-flows:callback-host with the URL's host",
                {
                    "secret": {
                        "type": "string",
                        "pattern": "^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+$",
                        "description": "the secret's ARN",
                    }
                },
                ["secret"],
            ),
        ]
    },
}

SHORT_STEP = {
    "type": "object",
    "additionalProperties": False,
    "description": "A step short form: name, action_on_failure and exactly one of "
    + ", ".join(SHORT_FORMS),
    "properties": {
        "name": string("the step's Name"),
        "action_on_failure": {
            "anyOf": [{"$ref": "#/$defs/ActionOnFailure"}],
            "default": "TERMINATE_CLUSTER",
            "description": "ActionOnFailure; default TERMINATE_CLUSTER",
        },
        **{k: {"$ref": f"#/$defs/{k.capitalize()}Step"} for k in SHORT_FORMS},
    },
    "required": ["name"],
    "oneOf": [{"required": [k]} for k in SHORT_FORMS],
}

DEFINITION_PROPERTIES = {
    "name": string("the definition's name: the file name without .yaml"),
    "version": string("the definition's version, recorded on every flow"),
    "description": string("what the flow does, for `list {\"definitions\": true}`"),
    "parameters": {
        "type": "object",
        "description": "a JSON Schema (type: object) for the submitted params; defaults are applied",
    },
    "examples": {
        "type": "array",
        "minItems": 1,
        "items": {"type": "object"},
        "description": "parameter sets `make check` validates and renders against EMR's model; "
        "at least one ({} when no parameter is required)",
    },
    "job_flow": {"$ref": "#/$defs/RunJobFlowInput"},
    "cluster": form(
        "steps on a long-running cluster that is not the flow's (AddJobFlowSteps): the cluster by id, "
        "or found by name and/or tags among STARTING, BOOTSTRAPPING, RUNNING and WAITING clusters",
        {
            "id": string("the cluster's id (j-…), usually a parameter: {{ cluster_id }}"),
            "name": string("the cluster's Name"),
            "tags": string_map("tags the cluster carries"),
            "execution_role_arn": string("the steps' runtime role (AddJobFlowSteps' ExecutionRoleArn)"),
        },
        [],
    ),
    "steps": {
        "type": "array",
        "items": {"$ref": "#/$defs/Step"},
        "description": "steps appended to job_flow.Steps, or added to the cluster: StepConfigs in EMR's API shape or short forms",
    },
    "overridable": {
        "type": "object",
        "description": "JSON Pointers (RFC 6901) into job_flow a caller may override, each with the "
        "JSON Schema its value must satisfy; * stands for any one list index or member name",
        "propertyNames": {"pattern": "^(/([^~/]|~[01])*)+$"},
        "additionalProperties": {"type": ["object", "boolean"]},
    },
    "callbacks": {
        "type": "array",
        "description": "targets told of every flow of this definition, before the caller's own",
        "items": {
            "oneOf": [
                form("a Lambda function, invoked asynchronously", {"lambda": string("function name or ARN")}, ["lambda"]),
                form(
                    "an HTTPS endpoint, sent a signed POST",
                    {
                        "http": form(
                            "the endpoint",
                            {"url": string("https://…"), "headers": HEADERS},
                            ["url"],
                        )
                    },
                    ["http"],
                ),
            ]
        },
    },
    "artifacts": string_map("named URI templates stored on the flow record and sent in callbacks"),
    "max_runtime": string(
        "how long a flow may stay active (humantime: `6h`, `90m`, `1h 30m`; 1 minute to 30 days); "
        "past it the reconcile sweep terminates the cluster and the flow ends TIMED_OUT"
    ),
    "shutdown_grace_period": string(
        "serverless_job_run only: how long EMR Serverless lets the job shut down when emr-flows cancels "
        "its run (terminate, max_runtime), as CancelJobRun's shutdownGracePeriodInSeconds (humantime: "
        "`30s`, `2m`; 15 seconds to 30 minutes; release 7.9.0 and later); absent: at once"
    ),
}


def main() -> None:
    model_path = pathlib.Path(botocore.__file__).parent / "data/emr/2009-03-31/service-2.json.gz"
    shapes = json.loads(gzip.decompress(model_path.read_bytes()))["shapes"]
    defs: dict[str, dict] = {}

    def ref(name: str) -> dict:
        if name not in defs:
            defs[name] = {}  # placeholder first: shapes may be recursive (Configuration)
            defs[name] = convert(shapes[name])
        return {"$ref": f"#/$defs/{name}"}

    def convert(shape: dict, templated: bool = False) -> dict:
        kind = shape["type"]
        if kind == "structure":
            schema = {
                "type": "object",
                "additionalProperties": False,
                "properties": {m: ref(s["shape"]) for m, s in shape["members"].items()},
            }
            if shape.get("required"):
                schema["required"] = shape["required"]
            return schema
        if kind == "list":
            schema = {"type": "array", "items": ref(shape["member"]["shape"])}
            bounds = {"min": "minItems", "max": "maxItems"}
        elif kind == "map":
            schema = {"type": "object", "additionalProperties": ref(shape["value"]["shape"])}
            bounds = {}
        elif kind == "string":
            schema = {"type": "string"}
            if "enum" in shape:
                schema["enum"] = shape["enum"]
            bounds = {"min": "minLength", "max": "maxLength"}
        elif kind in ("integer", "long"):
            schema, bounds = {"type": "integer"}, {"min": "minimum", "max": "maximum"}
        elif kind in ("double", "float"):
            schema, bounds = {"type": "number"}, {"min": "minimum", "max": "maximum"}
        elif kind == "boolean":
            schema, bounds = {"type": "boolean"}, {}
        elif kind == "timestamp":
            schema, bounds = {"type": "string"}, {}
        else:
            raise SystemExit(f"unknown shape type {kind}")
        for key, keyword in bounds.items():
            if key in shape:
                schema[keyword] = shape[key]
        if templated and (kind in ("integer", "long", "double", "float", "boolean") or "enum" in shape):
            # A number, boolean or enum may be written as a template that renders to one.
            return {"anyOf": [schema, TEMPLATE]}
        return schema

    root = ref(ROOT_SHAPE)
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": f"Generated by shared/schemas/generate.py from botocore {botocore.__version__}'s EMR service model "
        "(2009-03-31). Do not edit by hand.",
        "title": "EMR RunJobFlow request",
        **root,
        "$defs": dict(sorted(defs.items())),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(schema, indent=1, sort_keys=False) + "\n")
    print(f"wrote {OUT} ({len(defs)} shapes)")

    # The definition format: the same shapes, templates allowed where the model wants a
    # number, boolean or enum value.
    templated: dict[str, dict] = {}
    for name in defs:
        shape = shapes[name]
        converted = convert(shape, templated=True)
        # convert() re-registers referenced shapes in defs; they already exist.
        templated[name] = converted
    templated["Template"] = {
        "type": "string",
        "pattern": "\\{\\{",
        "description": "a {{ template }}, rendered when a flow is submitted",
    }
    templated["Step"] = {
        "if": {"anyOf": [{"required": ["HadoopJarStep"]}, {"required": ["Name"]}]},
        "then": {"$ref": "#/$defs/StepConfig"},
        "else": {"$ref": "#/$defs/ShortStep"},
    }
    templated["ShortStep"] = SHORT_STEP
    # The EMR Serverless run section: its shapes prefixed `Serverless`, templates allowed too.
    serverless = serverless_schema(templated=True)
    templated.update(serverless["defs"])
    DEFINITION_PROPERTIES["serverless_job_run"] = {
        **serverless["root"],
        "description": "the run section of a job run on EMR Serverless: the StartJobRun request in its API shape "
        "(clientToken and the emr-flows:* tags are emr-flows' own); instead of job_flow",
    }
    # The EMR on EKS run section: its shapes prefixed `Eks`, templates allowed too.
    eks = eks_schema(templated=True)
    templated.update(eks["defs"])
    DEFINITION_PROPERTIES["eks_job_run"] = {
        **eks["root"],
        "description": "the run section of a job run on EMR on EKS: the emr-containers StartJobRun request in its "
        "API shape (clientToken and the emr-flows:* tags are emr-flows' own); instead of job_flow",
    }
    for key, schema in SHORT_FORMS.items():
        templated[f"{key.capitalize()}Step"] = schema
    definition = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": f"Generated by shared/schemas/generate.py from botocore {botocore.__version__}'s EMR (2009-03-31), "
        f"EMR Serverless ({serverless['version']}) and EMR on EKS ({eks['version']}) service models and the step short "
        "forms. Do not edit by hand.",
        "title": "emr-flows flow definition (shared/flows/NAME.yaml)",
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "version", "examples"],
        "properties": DEFINITION_PROPERTIES,
        "$defs": dict(sorted(templated.items())),
    }
    DEFINITION_OUT.write_text(json.dumps(definition, indent=1) + "\n")
    print(f"wrote {DEFINITION_OUT}")


SERVERLESS_OUT = SCHEMAS / "start-job-run-serverless.schema.json"
EKS_OUT = SCHEMAS / "start-job-run-eks.schema.json"

# The model's patterns are Java regexes and unanchored; these are the ones worth checking
# before the call, anchored and written for any JSON Schema engine (the role ARN's
# `\u002F`-escapes as `/`). Every other pattern is left out, as for RunJobFlow.
SERVERLESS_PATTERNS = {
    "ApplicationId": "^[0-9a-z]+$",
    "IAMRoleArn": "^arn:aws[a-zA-Z0-9-]*:iam::[0-9]{12}:role/([!-~]+/)?[A-Za-z0-9_+=,.@-]+$",
    "TagKey": "^[A-Za-z0-9 /_.:=+@-]+$",
    "TagValue": "^[A-Za-z0-9 /_.:=+@-]*$",
    "LogGroupName": "^[.\\-_/#A-Za-z0-9]+$",
    "String256": "\\S",
    "EntryPointPath": "\\S",
}

# The same for emr-containers (EMR on EKS), by its model's shape names: ResourceIdString is the
# virtual cluster's and the job template's id, ResourceNameString the job run's name (no spaces),
# String128 and StringEmpty256 a tag's key and value (the model's `.*\S.*`: not blank).
EKS_PATTERNS = {
    "ResourceIdString": "^[0-9a-z]+$",
    "ResourceNameString": "^[\\.\\-_/#A-Za-z0-9]+$",
    "IAMRoleArn": SERVERLESS_PATTERNS["IAMRoleArn"],
    "String128": "\\S",
    "StringEmpty256": "\\S",
    "ReleaseLabel": "\\S",
    "EntryPointPath": "\\S",
    "LogGroupName": SERVERLESS_PATTERNS["LogGroupName"],
}

# EMR on EKS' model marks neither JobDriver a union nor the run's members required beyond
# virtualClusterId, but its documentation says both: "Exactly one of the two available job
# drivers is required", and a run needs a release, a role and a driver unless a job template
# gives them. So: either jobTemplateId, or releaseLabel, executionRoleArn and jobDriver (each
# missing one is named in its own error); jobTemplateParameters only with jobTemplateId.
EKS_UNIONS = {"JobDriver"}
EKS_EXTRA = {
    "StartJobRunRequest": {
        "$comment": "either jobTemplateId, or releaseLabel, executionRoleArn and jobDriver",
        "if": {"required": ["jobTemplateId"]},
        "else": {"required": ["releaseLabel", "executionRoleArn", "jobDriver"]},
        "dependentRequired": {"jobTemplateParameters": ["jobTemplateId"]},
    }
}


def job_run_schema(
    service: str,
    prefix: str,
    patterns: dict[str, str],
    root: str = "StartJobRunRequest",
    templated: bool = False,
    unions: set[str] | None = None,
    extra: dict[str, dict] | None = None,
) -> dict:
    """A request shape of botocore's `service` model (root shape `root`) as a JSON Schema:
    members as `additionalProperties: false` objects, types, enums, length, item and range
    limits, the anchored `patterns` (by shape name), a union (the model's, or a shape named in
    `unions`) as exactly one member, and `extra` keywords merged into the named structures.
    `clientToken` is left out: emr-flows sets it. With `templated`, a number, boolean, enum or
    patterned string may also be a `{{ template }}` (the definition format), and the `$defs`
    names are prefixed with `prefix` so they sit beside EMR's in one document. Answers
    `{root, defs, version}` (`version` the model's API version)."""
    model_dir = pathlib.Path(botocore.__file__).parent / "data" / service
    model_path = next(model_dir.glob("*/service-2.json*"))
    raw = model_path.read_bytes()
    shapes = json.loads(gzip.decompress(raw) if model_path.suffix == ".gz" else raw)["shapes"]
    prefix = prefix if templated else ""
    unions, extra = unions or set(), extra or {}
    defs: dict[str, dict] = {}

    def ref(name: str) -> dict:
        if name not in defs:
            defs[name] = {}
            defs[name] = convert(name, shapes[name])
        return {"$ref": f"#/$defs/{prefix}{name}"}

    def convert(name: str, shape: dict) -> dict:
        kind = shape["type"]
        if kind == "structure":
            members = {m: s for m, s in shape["members"].items() if m != "clientToken"}
            schema = {
                "type": "object",
                "additionalProperties": False,
                "properties": {m: ref(s["shape"]) for m, s in members.items()},
            }
            required = [r for r in shape.get("required", []) if r != "clientToken"]
            if required:
                schema["required"] = required
            if shape.get("union") or name in unions:
                schema["minProperties"] = schema["maxProperties"] = 1
            schema.update(extra.get(name, {}))
            return schema
        if kind == "list":
            schema, bounds = {"type": "array", "items": ref(shape["member"]["shape"])}, {"min": "minItems", "max": "maxItems"}
        elif kind == "map":
            schema = {
                "type": "object",
                "propertyNames": ref(shape["key"]["shape"]),
                "additionalProperties": ref(shape["value"]["shape"]),
            }
            bounds = {"min": "minProperties", "max": "maxProperties"}
        elif kind == "string":
            schema = {"type": "string"}
            if "enum" in shape:
                schema["enum"] = shape["enum"]
            if name in patterns:
                schema["pattern"] = patterns[name]
            bounds = {"min": "minLength", "max": "maxLength"}
        elif kind in ("integer", "long"):
            schema, bounds = {"type": "integer"}, {"min": "minimum", "max": "maximum"}
        elif kind in ("double", "float"):
            schema, bounds = {"type": "number"}, {"min": "minimum", "max": "maximum"}
        elif kind == "boolean":
            schema, bounds = {"type": "boolean"}, {}
        else:
            raise SystemExit(f"unknown shape type {kind}")
        for key, keyword in bounds.items():
            if key in shape:
                schema[keyword] = shape[key]
        if templated and (kind in ("integer", "long", "double", "float", "boolean") or "enum" in shape or "pattern" in schema):
            # A number, boolean, enum or patterned string may be a template that renders to one.
            return {"anyOf": [schema, TEMPLATE]}
        return schema

    root_ref = ref(root)
    return {
        "root": root_ref,
        "defs": {f"{prefix}{k}": v for k, v in sorted(defs.items())},
        "version": model_path.parent.name,
    }


def serverless_schema(templated: bool = False) -> dict:
    """The EMR Serverless StartJobRun request (botocore's emr-serverless model; `$defs` prefixed
    `Serverless` when `templated`): see `job_run_schema`."""
    return job_run_schema("emr-serverless", "Serverless", SERVERLESS_PATTERNS, templated=templated)


def eks_schema(templated: bool = False) -> dict:
    """The EMR on EKS StartJobRun request (botocore's emr-containers model; `$defs` prefixed `Eks`
    when `templated`), with EKS_UNIONS and EKS_EXTRA: see `job_run_schema`."""
    return job_run_schema(
        "emr-containers", "Eks", EKS_PATTERNS, templated=templated, unions=EKS_UNIONS, extra=EKS_EXTRA
    )


def write_job_run(out: pathlib.Path, generated: dict, model: str, title: str) -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": f"Generated by shared/schemas/generate.py from botocore {botocore.__version__}'s {model} "
        f"service model ({generated['version']}), without clientToken (emr-flows sets it). Do not edit by hand.",
        "title": title,
        **generated["root"],
        "$defs": generated["defs"],
    }
    out.write_text(json.dumps(schema, indent=1) + "\n")
    print(f"wrote {out} ({len(generated['defs'])} shapes)")


if __name__ == "__main__":
    main()
    write_job_run(SERVERLESS_OUT, serverless_schema(), "EMR Serverless", "EMR Serverless StartJobRun request")
    write_job_run(EKS_OUT, eks_schema(), "EMR on EKS (emr-containers)", "EMR on EKS StartJobRun request")
