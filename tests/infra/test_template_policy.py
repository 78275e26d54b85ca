"""Policy tests of infra/template.yaml: the security promises of the architecture, read from the template itself.

Each promise is a check that returns the violations it finds (an empty list when the template keeps it). The
tests assert that the template has none, and ``test_check_catches_a_broken_template`` breaks a copy of the
template once per check and asserts the check notices, so none of these tests can pass vacuously.

Roles are explicit ``AWS::IAM::Role`` resources (the functions pass ``Role:``), so what these tests read is what
gets deployed; SAM ``Policies:`` would be expanded at deploy time, out of their sight.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "infra" / "template.yaml"

Template = dict[str, Any]
Check = Callable[[Template], list[str]]

PUBLIC_CIDR = "10.0.1.0/24"
ANALYTICS_CIDR = "10.0.2.0/24"
ETL_CIDR = "10.0.3.0/24"
PRIVATE_CIDRS = (ANALYTICS_CIDR, ETL_CIDR)
WORLD = ("0.0.0.0/0", "::/0")

INGEST_FUNCTION = "IngestFunction"
ETL_FUNCTION = "EtlFunction"
DASHBOARD_PORT = 8050
ROOT_DEVICE = "/dev/xvda"
SSM_SERVICES = ("ssm", "ssmmessages", "ec2messages")
ARTIFACTS_PREFIX = "dashboard/"
DASHBOARD_ROLE = "clickstream_dashboard"
# The roles script's statements (whitespace-normalised, lowercase): the dashboard reads schema marts only.
DASHBOARD_GRANTS = (
    f"grant usage on schema marts to {DASHBOARD_ROLE}",
    f"grant select on all tables in schema marts to {DASHBOARD_ROLE}",
    f'alter default privileges for role :"etl_user" in schema marts grant select on tables to {DASHBOARD_ROLE}',
)
DASHBOARD_SETUP = (
    f"alter role {DASHBOARD_ROLE} set default_transaction_read_only = on",
    '\\connect :"db"',
    'create schema if not exists marts authorization :"etl_user"',
)

LEGACY_ROLE = "clickstream_legacy"
LEGACY_DATABASE = "clickstream_dw"  # the old R dashboard's database: the template's and `make package`'s default
LOOPBACK = ("127.0.0.1/32", "::1/128")
# The old R dashboard's role reads the public view dbt builds and schema marts (the view runs with its owner's rights,
# so staging needs no grant); default privileges keep what dbt recreates as the ETL role readable.
LEGACY_GRANTS = (
    f"grant usage on schema public to {LEGACY_ROLE}",
    f"grant usage on schema marts to {LEGACY_ROLE}",
    f"grant select on all tables in schema marts to {LEGACY_ROLE}",
    f"select 'grant select on public.clickstream_events to {LEGACY_ROLE}'"
    " where to_regclass('public.clickstream_events') is not null \\gexec",
    f'alter default privileges for role :"etl_user" in schema public grant select on tables to {LEGACY_ROLE}',
    f'alter default privileges for role :"etl_user" in schema marts grant select on tables to {LEGACY_ROLE}',
)
LEGACY_READ_ONLY = f"alter role {LEGACY_ROLE} set default_transaction_read_only = on"
LEGACY_MAX_CONNECTIONS = 10
LEGACY_MAX_TIMEOUT_SECONDS = 60
PASSWORD_PARAMETERS = ("WarehousePasswordParameterName", "LegacyDashboardPasswordParameterName")
PARAMETER_READ_ACTIONS = {"ssm:getparameter", "ssm:getparameters", "ssm:getparametersbypath", "ssm:getparameterhistory"}

SSM_CORE_POLICY = "AmazonSSMManagedInstanceCore"
ENI_ACTIONS = {
    "ec2:createnetworkinterface",
    "ec2:describenetworkinterfaces",
    "ec2:describesubnets",
    "ec2:deletenetworkinterface",
    "ec2:assignprivateipaddresses",
    "ec2:unassignprivateipaddresses",
}
LOG_ACTIONS = {"logs:createlogstream", "logs:putlogevents"}
INGEST_ACTIONS = {"s3:putobject", *LOG_ACTIONS}
QUEUE_ACTIONS = {"sqs:receivemessage", "sqs:deletemessage"}  # the raw bucket's notifications, on that queue only
ETL_ACTIONS = {"s3:getobject", "s3:listbucket", "ssm:getparameter", *QUEUE_ACTIONS, *LOG_ACTIONS, *ENI_ACTIONS}
SHOP_SECRET_ACTION = "secretsmanager:getsecretvalue"  # the ETL's, with a shop database only
# The optional engines (issue 20): Redshift Serverless for the warehouse, EMR Serverless for Spark.
REDSHIFT = {"WarehouseEngine": "redshift-serverless"}
SPARK = {"SparkEngine": "emr-serverless"}
ENGINES = {**REDSHIFT, **SPARK}
ENGINE_CONDITIONS = {"UseRedshiftServerless", "UseEmrServerless"}
REDSHIFT_PORT = 5439
STAGING_PREFIX = "redshift-staging/"  # the ETL's COPY files, in the raw bucket
LAKE_PREFIX = "spark-lake/"  # the Parquet raw lake and dbt's Spark tables, in the raw bucket
SPARK_SCRIPTS_PREFIX = "spark/"  # job scripts, in the artifacts bucket
REDSHIFT_STATEMENT_ACTIONS = {"redshift-data:executestatement", "redshift-data:batchexecutestatement"}
# The Data API's reads of a statement take no resource but "*": allowed only for the statements the caller ran.
OWN_STATEMENT_ACTIONS = {"redshift-data:describestatement", "redshift-data:getstatementresult"}
OWN_STATEMENTS = {"StringEquals": {"redshift-data:statement-owner-iam-userid": "${aws:userid}"}}
CREDENTIALS_ACTION = "redshift-serverless:getcredentials"
REDSHIFT_ETL_ACTIONS = {*REDSHIFT_STATEMENT_ACTIONS, *OWN_STATEMENT_ACTIONS, CREDENTIALS_ACTION, "s3:putobject"}
SPARK_ETL_ACTIONS = {"emr-serverless:startjobrun", "emr-serverless:getjobrun", "iam:passrole"}
EMR_SERVICE = "emr-serverless.amazonaws.com"
REDSHIFT_SERVICES = {"redshift.amazonaws.com", "redshift-serverless.amazonaws.com"}
ENGINE_ENDPOINTS = {  # interface endpoint service -> the parameters that create it (no NAT: every API needs one)
    "redshift-data": REDSHIFT,
    "redshift-serverless": REDSHIFT,
    "emr-serverless": SPARK,
    "glue": SPARK,
    "logs": SPARK,
}
ETL_WAITS_FOR = ("redshift-data", "redshift-serverless", "emr-serverless")  # the APIs the ETL itself calls
POLICY_RESOURCE_TYPES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy")
ROUTE_TARGETS = (
    "GatewayId",
    "NatGatewayId",
    "InstanceId",
    "NetworkInterfaceId",
    "EgressOnlyInternetGatewayId",
    "TransitGatewayId",
    "CarrierGatewayId",
    "LocalGatewayId",
    "VpcPeeringConnectionId",
    "VpcEndpointId",
    "CoreNetworkArn",
)


def load_template(path: Path = TEMPLATE_PATH) -> Template:
    """The template as plain dicts; short-form tags (!Ref, !Sub, !GetAtt …) become their long forms."""
    plain: Template = json.loads(json.dumps(cfn_yaml.load(str(path))))
    return plain


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template()


# ---------------------------------------------------------------- reading the template


def resources(t: Template, type_: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in t.get("Resources", {}).items() if res.get("Type") == type_}


def props(resource: dict[str, Any]) -> dict[str, Any]:
    return resource.get("Properties", {}) or {}


def target(value: Any) -> str | None:
    """The logical id a value points at: ``!Ref X`` or ``!GetAtt X.Attr``."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            getatt = value["Fn::GetAtt"]
            return str(getatt[0] if isinstance(getatt, list) else getatt.split(".")[0])
    return None


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def is_true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def tag(resource: dict[str, Any], key: str) -> Any:
    return next((t["Value"] for t in props(resource).get("Tags", []) if t.get("Key") == key), None)


def security_group(t: Template, name: str) -> str:
    """Logical id of the security group the architecture calls ``name`` (its Name tag)."""
    found = [lid for lid, sg in resources(t, "AWS::EC2::SecurityGroup").items() if tag(sg, "Name") == name]
    assert len(found) == 1, f"expected one security group named {name}, found {found}"
    return found[0]


def subnet(t: Template, cidr: str) -> str:
    found = [lid for lid, s in resources(t, "AWS::EC2::Subnet").items() if props(s).get("CidrBlock") == cidr]
    assert len(found) == 1, f"expected one subnet {cidr}, found {found}"
    return found[0]


def route_table_of(t: Template, subnet_id: str) -> str | None:
    for assoc in resources(t, "AWS::EC2::SubnetRouteTableAssociation").values():
        if target(props(assoc).get("SubnetId")) == subnet_id:
            return target(props(assoc).get("RouteTableId"))
    return None


def instance_subnet(instance: dict[str, Any]) -> str | None:
    p = props(instance)
    if "SubnetId" in p:
        return target(p["SubnetId"])
    primary = [n for n in p.get("NetworkInterfaces", []) if str(n.get("DeviceIndex")) == "0"]
    return target(primary[0].get("SubnetId")) if primary else None


def warehouse_instance(t: Template) -> str:
    analytics = subnet(t, ANALYTICS_CIDR)
    found = [lid for lid, i in resources(t, "AWS::EC2::Instance").items() if instance_subnet(i) == analytics]
    assert len(found) == 1, f"expected one instance in the analytics subnet, found {found}"
    return found[0]


def ingress_rules(t: Template) -> list[tuple[str, dict[str, Any]]]:
    """(security group, rule) for inline rules and for AWS::EC2::SecurityGroupIngress resources."""
    rules = [
        (lid, rule)
        for lid, sg in resources(t, "AWS::EC2::SecurityGroup").items()
        for rule in props(sg).get("SecurityGroupIngress", [])
    ]
    for lid, res in resources(t, "AWS::EC2::SecurityGroupIngress").items():
        rules.append((target(props(res).get("GroupId")) or lid, props(res)))
    return rules


def covers_port(rule: dict[str, Any], port: int) -> bool:
    protocol = str(rule.get("IpProtocol", "")).lower()
    if protocol in ("-1", "all"):
        return True
    if protocol not in ("tcp", "6"):
        return False
    try:
        low, high = int(rule.get("FromPort", 0)), int(rule.get("ToPort", 65535))
    except (TypeError, ValueError):
        return True  # a port this check cannot evaluate: assume the worst
    return low == -1 or low <= port <= high


def is_world(text: str) -> bool:
    try:
        return ipaddress.ip_network(text, strict=False).prefixlen == 0
    except ValueError:
        return False


def may_be_world(t: Template, value: Any) -> bool:
    """Whether a CIDR (literal, or a parameter with its default and constraints) can be the whole internet."""
    if value is None:
        return False
    if isinstance(value, str):
        return is_world(value)
    name = target(value)
    param = t.get("Parameters", {}).get(name) if name else None
    if param is None:
        return True  # an expression this check cannot evaluate: assume the worst
    candidates = [str(param.get("Default", "")), *map(str, param.get("AllowedValues", []))]
    if any(is_world(c) for c in candidates):
        return True
    if "AllowedValues" in param:
        return False
    pattern = param.get("AllowedPattern")
    return pattern is None or any(re.fullmatch(pattern, w) for w in WORLD)


def role_of_function(t: Template, function: str) -> str:
    role = target(props(t["Resources"][function]).get("Role"))
    assert role is not None and role in resources(t, "AWS::IAM::Role"), f"{function} must use a role of this template"
    return role


def role_statements(t: Template, role: str) -> list[dict[str, Any]]:
    """Every policy statement that applies to the role: inline policies and policy resources attached to it."""
    documents = [p["PolicyDocument"] for p in props(t["Resources"][role]).get("Policies", [])]
    for type_ in POLICY_RESOURCE_TYPES:
        for policy in resources(t, type_).values():
            attached = [*props(policy).get("Roles", []), props(policy).get("RoleName")]
            if any(target(r) == role for r in attached):
                documents.append(props(policy)["PolicyDocument"])
    return [s for d in documents for s in as_list(d["Statement"])]


def actions(statement: dict[str, Any]) -> set[str]:
    return {str(a).lower() for a in as_list(statement.get("Action", []))}


def sub_text(value: Any) -> str | None:
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return str(sub[0] if isinstance(sub, list) else sub)
    return None


def raw_bucket(t: Template) -> str:
    variables = props(t["Resources"][INGEST_FUNCTION])["Environment"]["Variables"]
    bucket = target(variables["RAW_BUCKET_NAME"])
    assert bucket in resources(t, "AWS::S3::Bucket"), "RAW_BUCKET_NAME must name a bucket of this template"
    return bucket


def is_raw_object_arn(t: Template, resource: Any) -> bool:
    bucket = raw_bucket(t)
    return sub_text(resource) in (
        f"${{{bucket}.Arn}}/${{RawPrefix}}*",
        f"arn:${{AWS::Partition}}:s3:::${{{bucket}}}/${{RawPrefix}}*",
    )


def is_raw_bucket_arn(t: Template, resource: Any) -> bool:
    bucket = raw_bucket(t)
    if resource == {"Fn::GetAtt": [bucket, "Arn"]}:
        return True
    return sub_text(resource) in (f"${{{bucket}.Arn}}", f"arn:${{AWS::Partition}}:s3:::${{{bucket}}}")


def is_prefix_arn(resource: Any, bucket: str, prefix: str) -> bool:
    """``resource`` is the objects under ``prefix`` of the template's bucket ``bucket``."""
    return sub_text(resource) in (
        f"${{{bucket}.Arn}}/{prefix}*",
        f"arn:${{AWS::Partition}}:s3:::${{{bucket}}}/{prefix}*",
    )


def only(t: Template, type_: str) -> str | None:
    """The logical id of the one resource of this type, or None when there is none (more than one: an error)."""
    found = list(resources(t, type_))
    assert len(found) <= 1, f"expected at most one {type_}, found {found}"
    return found[0] if found else None


def getatt(lid: str | None, attribute: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [lid, attribute]}


def trusted_services(t: Template, role: str) -> set[str]:
    """The services a role's trust policy lets assume it; any other kind of principal shows as its JSON."""
    found: set[str] = set()
    for s in as_list(props(t["Resources"][role]).get("AssumeRolePolicyDocument", {}).get("Statement", [])):
        principal = s.get("Principal")
        if isinstance(principal, dict) and set(principal) == {"Service"}:
            found |= {str(p) for p in as_list(principal["Service"])}
        else:
            found.add(json.dumps(principal))
    return found


def spark_job_role(t: Template) -> str | None:
    """The role EMR Serverless assumes for the Spark job runs (the one its service may assume)."""
    found = [lid for lid in resources(t, "AWS::IAM::Role") if EMR_SERVICE in trusted_services(t, lid)]
    assert len(found) <= 1, f"expected at most one role for {EMR_SERVICE}, found {found}"
    return found[0] if found else None


def statement_violations(t: Template, role: str, statement: dict[str, Any]) -> list[str]:
    """Each action of an Allow statement must be scoped the one way this architecture needs it."""
    where = f"{role} statement {statement.get('Sid', '?')}"
    if "NotAction" in statement or "NotResource" in statement:
        return [f"{where} uses NotAction/NotResource"]
    if statement.get("Effect") != "Allow":
        return []
    found = []
    resources_ = as_list(statement.get("Resource"))
    for action in sorted(actions(statement)):
        if action in ENI_ACTIONS:
            continue  # Lambda's VPC networking: Resource "*" (DescribeNetworkInterfaces works only on "*")
        if action in LOG_ACTIONS:
            log_groups = resources(t, "AWS::Logs::LogGroup")
            if not all(r == {"Fn::GetAtt": [target(r), "Arn"]} and target(r) in log_groups for r in resources_):
                found.append(f"{where}: {action} must be scoped to a log group of this template, not {resources_}")
        elif action == "s3:putobject" and role == role_of_function(t, ETL_FUNCTION):
            # the ETL writes nothing but Redshift's COPY files (under the staging prefix, with Redshift only)
            if not all(is_prefix_arn(r, raw_bucket(t), STAGING_PREFIX) for r in resources_):
                found.append(f"{where}: s3:PutObject must be limited to {STAGING_PREFIX} objects, not {resources_}")
        elif action in ("s3:putobject", "s3:getobject"):
            if not all(is_raw_object_arn(t, r) for r in resources_):
                found.append(f"{where}: {action} must be limited to raw objects under RawPrefix, not {resources_}")
        elif action in REDSHIFT_STATEMENT_ACTIONS or action == CREDENTIALS_ACTION:
            wanted = [getatt(only(t, "AWS::RedshiftServerless::Workgroup"), "Workgroup.WorkgroupArn")]
            if resources_ != wanted:
                found.append(f"{where}: {action} must be on the template's Redshift workgroup only, not {resources_}")
        elif action in OWN_STATEMENT_ACTIONS:
            if resources_ != ["*"] or statement.get("Condition") != OWN_STATEMENTS:
                found.append(f"{where}: {action} must be on '*' with the condition {OWN_STATEMENTS} (own statements)")
        elif action == "emr-serverless:startjobrun":
            if resources_ != [getatt(only(t, "AWS::EMRServerless::Application"), "Arn")]:
                found.append(f"{where}: {action} must be on the template's EMR application only, not {resources_}")
        elif action == "emr-serverless:getjobrun":
            application = only(t, "AWS::EMRServerless::Application")
            if [sub_text(r) for r in resources_] != [f"${{{application}.Arn}}/jobruns/*"]:
                found.append(f"{where}: {action} must be on the job runs of the EMR application, not {resources_}")
        elif action == "iam:passrole":
            passed = {"StringEquals": {"iam:PassedToService": EMR_SERVICE}}
            if resources_ != [getatt(spark_job_role(t), "Arn")] or statement.get("Condition") != passed:
                found.append(f"{where}: iam:PassRole must be on the Spark job role, to {EMR_SERVICE} only")
        elif action == "s3:listbucket":
            prefix = statement.get("Condition", {}).get("StringLike", {}).get("s3:prefix")
            if not all(is_raw_bucket_arn(t, r) for r in resources_):
                found.append(f"{where}: s3:ListBucket must be on the raw bucket only, not {resources_}")
            if prefix is None or any(sub_text(p) != "${RawPrefix}*" for p in as_list(prefix)):
                found.append(f"{where}: s3:ListBucket needs the condition StringLike s3:prefix ${{RawPrefix}}*")
        elif action == "ssm:getparameter":
            wanted = (
                "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${WarehousePasswordParameterName}"
            )
            if [sub_text(r) for r in resources_] != [wanted]:
                found.append(f"{where}: ssm:GetParameter must be on the warehouse password parameter only")
        elif action in QUEUE_ACTIONS:
            if resources_ != [{"Fn::GetAtt": ["RawNotificationsQueue", "Arn"]}]:
                found.append(f"{where}: {action} must be on the raw bucket's notification queue only, not {resources_}")
        elif action == SHOP_SECRET_ACTION:
            if resources_ != [{"Ref": "ShopDatabaseSecretArn"}]:
                found.append(f"{where}: {action} must be on the secret ShopDatabaseSecretArn only, not {resources_}")
        else:
            found.append(f"{where}: unexpected action {action}")
    return found


def parameter_default(t: Template, name: str) -> Any:
    return t.get("Parameters", {}).get(name, {}).get("Default")


def parameter_value(t: Template, value: Any, values: dict[str, str]) -> str:
    if isinstance(value, dict) and "Ref" in value:
        return str(values.get(value["Ref"], parameter_default(t, value["Ref"])))
    return str(value)


def condition_holds(t: Template, expression: Any, values: dict[str, str]) -> bool:
    """A Conditions expression (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition) for these parameter values."""
    if isinstance(expression, dict) and len(expression) == 1:
        ((function, argument),) = expression.items()
        if function == "Condition":
            return condition_holds(t, t["Conditions"][argument], values)
        if function == "Fn::Equals":
            left, right = (parameter_value(t, a, values) for a in argument)
            return left == right
        if function == "Fn::Not":
            return not condition_holds(t, argument[0], values)
        if function in ("Fn::And", "Fn::Or"):
            results = [condition_holds(t, a, values) for a in argument]
            return all(results) if function == "Fn::And" else any(results)
    raise ValueError(f"cannot evaluate the condition {expression}")


NO_VALUE = {"Ref": "AWS::NoValue"}


def resolve_ifs(value: Any, holds: dict[str, bool]) -> Any:
    """``value`` with each Fn::If replaced by the branch its condition picks, and AWS::NoValue left out."""
    if isinstance(value, dict):
        if list(value) == ["Fn::If"]:
            condition, when_true, when_false = value["Fn::If"]
            return resolve_ifs(when_true if holds[condition] else when_false, holds)
        resolved = {k: resolve_ifs(v, holds) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v != NO_VALUE}
    if isinstance(value, list):
        return [v for v in (resolve_ifs(item, holds) for item in value) if v != NO_VALUE]
    return value


def deployed(t: Template, **values: str) -> Template:
    """What a deploy with these parameter values (the others at their defaults) creates: the resources and outputs
    whose Condition is false are left out, and their Fn::If take the branch the parameters pick."""
    holds = {name: condition_holds(t, e, values) for name, e in t.get("Conditions", {}).items()}
    result = copy.deepcopy(t)
    for section in ("Resources", "Outputs"):
        kept = {k: v for k, v in t.get(section, {}).items() if holds.get(v.get("Condition"), True)}
        result[section] = resolve_ifs(copy.deepcopy(kept), holds)
    return result


def rule_refusals(t: Template, values: dict[str, str]) -> list[str]:
    """The assertions of the template's Rules that a deploy with these parameter values fails."""
    found = []
    for name, rule in t.get("Rules", {}).items():
        if "RuleCondition" in rule and not condition_holds(t, rule["RuleCondition"], values):
            continue
        found += [
            f"{name}: {' '.join(str(a.get('AssertDescription', '')).split())}"
            for a in rule.get("Assertions", [])
            if not condition_holds(t, a["Assert"], values)
        ]
    return found


# The shop database: on the optional OLTP host, or outside this template (its host and network given).
SHOP_SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:clickstream/shop-reader-AbCdEf"
SHOP_ON_OLTP = {"DeployOltpInstance": "true", "ShopDatabaseSecretArn": SHOP_SECRET_ARN}
SHOP_OUTSIDE = {
    "ShopDatabaseSecretArn": SHOP_SECRET_ARN,
    "ShopDatabaseHost": "shop-db.internal.example",
    "ShopDatabaseCidr": "10.20.0.10/32",
}
# The deploys the checks evaluate: the default one, the OLTP host alone, the two kinds of shop database, each optional
# engine alone and both with a shop database (between them every optional resource; infra/scan.sh scans the default
# and every optional resource at once).
VARIANTS: tuple[dict[str, str], ...] = (
    {},
    {"DeployOltpInstance": "true"},
    SHOP_ON_OLTP,
    SHOP_OUTSIDE,
    REDSHIFT,
    SPARK,
    {**ENGINES, **SHOP_OUTSIDE},
)
# Combinations the template's Rules must refuse: each would deploy an ETL that cannot reach its shop database, or
# settings nothing uses.
REFUSED_SHOP_DEPLOYS: tuple[dict[str, str], ...] = (
    {"ShopDatabaseSecretArn": SHOP_SECRET_ARN},  # no host: neither the OLTP host nor ShopDatabaseHost
    {"ShopDatabaseSecretArn": SHOP_SECRET_ARN, "ShopDatabaseHost": "shop-db.internal.example"},  # no network
    {**SHOP_ON_OLTP, "ShopDatabasePort": "6432"},  # the OLTP host listens on 5432
    {**SHOP_ON_OLTP, "ShopDatabaseCidr": "10.0.0.0/16"},  # an egress rule the OLTP host does not need
    {"ShopDatabaseHost": "shop-db.internal.example", "ShopDatabaseCidr": "10.20.0.10/32"},  # no credentials
    {"DeployOltpInstance": "true", "ShopDatabaseCidr": "10.0.0.0/16"},
)


def has_shop_database(values: dict[str, str]) -> bool:
    return bool(values.get("ShopDatabaseSecretArn"))


def uses_redshift(values: dict[str, str]) -> bool:
    return values.get("WarehouseEngine") == REDSHIFT["WarehouseEngine"]


def uses_spark(values: dict[str, str]) -> bool:
    return values.get("SparkEngine") == SPARK["SparkEngine"]


def variant_name(values: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items()) or "defaults"


def egress_rules(t: Template) -> dict[str, list[dict[str, Any]]]:
    """Outbound rules per security group; a group without SecurityGroupEgress keeps AWS's allow-all rule."""
    rules = {
        lid: list(props(sg).get("SecurityGroupEgress", [{"IpProtocol": "-1", "CidrIp": "0.0.0.0/0"}]))
        for lid, sg in resources(t, "AWS::EC2::SecurityGroup").items()
    }
    for lid, res in resources(t, "AWS::EC2::SecurityGroupEgress").items():
        rules.setdefault(target(props(res).get("GroupId")) or lid, []).append(props(res))
    return rules


def within(inner: Any, outer: Any) -> bool:
    """Whether the literal network ``inner`` lies inside the literal network ``outer``."""
    try:
        inner_net, outer_net = ipaddress.ip_network(str(inner)), ipaddress.ip_network(str(outer), strict=False)
        return inner_net.version == outer_net.version and inner_net.subnet_of(outer_net)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def subnet_cidr(t: Template, subnet_id: str | None) -> str | None:
    found = resources(t, "AWS::EC2::Subnet").get(str(subnet_id))
    return None if found is None else props(found).get("CidrBlock")


def workloads(t: Template) -> list[tuple[str, set[str | None], str | None]]:
    """(logical id, its security groups, its subnet's CIDR) for every EC2 instance, function and EMR application in
    the VPC."""
    found = []
    for lid, instance in resources(t, "AWS::EC2::Instance").items():
        p = props(instance)
        primary = [n for n in p.get("NetworkInterfaces", []) if str(n.get("DeviceIndex")) == "0"]
        groups = primary[0].get("GroupSet", []) if primary else p.get("SecurityGroupIds", [])
        found.append((lid, {target(g) for g in groups}, subnet_cidr(t, instance_subnet(instance))))
    for lid, function in resources(t, "AWS::Serverless::Function").items():
        vpc = props(function).get("VpcConfig") or {}
        groups = {target(g) for g in vpc.get("SecurityGroupIds", [])}
        found += [(lid, groups, subnet_cidr(t, target(s))) for s in vpc.get("SubnetIds", [])]
    for lid, application in resources(t, "AWS::EMRServerless::Application").items():
        network = props(application).get("NetworkConfiguration") or {}
        groups = {target(g) for g in network.get("SecurityGroupIds", [])}
        found += [(lid, groups, subnet_cidr(t, target(s))) for s in network.get("SubnetIds", [])]
    return found


def interface_endpoints(t: Template) -> dict[str, dict[str, Any]]:
    return {
        lid: e
        for lid, e in resources(t, "AWS::EC2::VPCEndpoint").items()
        if props(e).get("VpcEndpointType") == "Interface"
    }


def user_data(t: Template, instance: str) -> str:
    data = props(t["Resources"][instance]).get("UserData", "")
    data = data.get("Fn::Base64", data) if isinstance(data, dict) else data
    return sub_text(data) or (data if isinstance(data, str) else "")


def warehouse_role(t: Template) -> str | None:
    profile = target(props(t["Resources"][warehouse_instance(t)]).get("IamInstanceProfile"))
    roles = props(t["Resources"].get(str(profile), {})).get("Roles", [])
    return target(roles[0]) if len(roles) == 1 else None


def artifacts_bucket(t: Template) -> str:
    """The bucket the warehouse host's user data downloads the dashboard from."""
    named = set(re.findall(r"\$\{([A-Za-z0-9]+)\}", user_data(t, warehouse_instance(t))))
    found = sorted(str(n) for n in named & set(resources(t, "AWS::S3::Bucket")))
    assert len(found) == 1, f"expected the warehouse user data to name one bucket of this template, names {found}"
    return found[0]


def bucket_policy_statements(t: Template, bucket: str) -> list[dict[str, Any]]:
    return [
        s
        for policy in resources(t, "AWS::S3::BucketPolicy").values()
        if target(props(policy).get("Bucket")) == bucket
        for s in as_list(props(policy)["PolicyDocument"]["Statement"])
    ]


def is_tls_deny(statement: dict[str, Any], bucket: str) -> bool:
    condition = statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")
    covered = as_list(statement.get("Resource"))
    return bool(
        statement.get("Effect") == "Deny"
        and statement.get("Principal") in ("*", {"AWS": "*"})
        and actions(statement) & {"s3:*", "*"}
        and str(condition).lower() == "false"
        and any(r == {"Fn::GetAtt": [bucket, "Arn"]} or sub_text(r) == f"${{{bucket}.Arn}}" for r in covered)
        and any(sub_text(r) == f"${{{bucket}.Arn}}/*" for r in covered)
    )


def bucket_tls(t: Template, bucket: str) -> list[str]:
    if any(is_tls_deny(s, bucket) for s in bucket_policy_statements(t, bucket)):
        return []
    return [f"{bucket} has no policy denying requests without TLS (aws:SecureTransport false) on it and its objects"]


def bucket_basics(t: Template, bucket: str) -> list[str]:
    """Public access blocked, versioned, encrypted by default, ACLs disabled (BucketOwnerEnforced)."""
    p = props(t["Resources"][bucket])
    block = p.get("PublicAccessBlockConfiguration", {})
    found = [
        f"{bucket} PublicAccessBlockConfiguration.{k} is not true"
        for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
        if not is_true(block.get(k))
    ]
    if p.get("VersioningConfiguration", {}).get("Status") != "Enabled":
        found.append(f"{bucket} is not versioned")
    rules = p.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
    algorithms = [r.get("ServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules]
    if not algorithms or not all(a in ("AES256", "aws:kms", "aws:kms:dsse") for a in algorithms):
        found.append(f"{bucket} has no default encryption ({algorithms})")
    ownership = [r.get("ObjectOwnership") for r in p.get("OwnershipControls", {}).get("Rules", [])]
    if ownership != ["BucketOwnerEnforced"]:
        found.append(f"{bucket} must disable ACLs (ObjectOwnership BucketOwnerEnforced), has {ownership}")
    return found


def sql_lines(text: str) -> list[str]:
    """The user data's lines, whitespace-normalised and lowercased, without a trailing semicolon."""
    return [" ".join(line.split()).lower().rstrip(";") for line in text.splitlines() if line.strip()]


def pg_hba_entries(text: str) -> list[list[str]]:
    """The fields of each entry of the pg_hba.conf the user data writes (comments and blank lines left out)."""
    block = re.search(r"cat > \$PGDATA/pg_hba\.conf <<'EOF'\n(.*?)^\s*EOF$", text, re.S | re.M)
    if block is None:
        return []
    return [line.split() for line in block.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")]


def parameter_arn(name: str) -> str:
    return f"arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter${{{name}}}"


def is_parameter_statement(statement: dict[str, Any]) -> bool:
    """A statement about reading Parameter Store parameters only (warehouse_host_parameter_reads checks them)."""
    return bool(actions(statement)) and actions(statement) <= PARAMETER_READ_ACTIONS


def repository_text(relative: str) -> str:
    return (ROOT / relative).read_text(encoding="utf-8")


def package_database_defaults() -> dict[str, str | None]:
    """The database `make package` builds the ETL's pre-parsed manifest for, where each place sets its default."""
    makefile = re.search(r"--database \$\(or \$\(DATABASE\),([A-Za-z0-9_]+)\)", repository_text("Makefile"))
    script = re.search(r'"--database",\s*default="([A-Za-z0-9_]+)"', repository_text("scripts/package.py"))
    integration = re.search(
        r'dataclasses\.replace\(dw, database="([A-Za-z0-9_]+)"\)',
        repository_text("tests/integration/test_etl_lambda.py"),
    )
    return {
        "Makefile package target": makefile.group(1) if makefile else None,
        "scripts/package.py --database": script.group(1) if script else None,
        "tests/integration/test_etl_lambda.py": integration.group(1) if integration else None,
    }


# ---------------------------------------------------------------- the checks


def world_ingress_to_ssh_or_postgres(t: Template) -> list[str]:
    found = []
    for group, rule in ingress_rules(t):
        ports = [p for p in (22, 5432) if covers_port(rule, p)]
        sources = [rule.get("CidrIp"), rule.get("CidrIpv6")]
        if ports and any(may_be_world(t, s) for s in sources):
            found.append(f"{group}: port {ports} open to the internet ({sources})")
    return found


def any_ssh_ingress(t: Template) -> list[str]:
    return [f"{group}: port 22 open to {rule}" for group, rule in ingress_rules(t) if covers_port(rule, 22)]


def warehouse_ingress(t: Template) -> list[str]:
    dw = security_group(t, "SG-DW")
    allowed = {security_group(t, "SG-ETL-Lambda"), security_group(t, "SG-Shiny")}
    found, sources = [], set()
    for group, rule in ingress_rules(t):
        if group != dw:
            continue
        source = target(rule.get("SourceSecurityGroupId"))
        exact = str(rule.get("IpProtocol")) == "tcp" and rule.get("FromPort") == rule.get("ToPort") == 5432
        if not exact or source not in allowed or any(k in rule for k in ("CidrIp", "CidrIpv6", "SourcePrefixListId")):
            found.append(f"SG-DW admits {rule}")
        sources.add(source)
    if not allowed <= sources:
        found.append(f"SG-DW must admit 5432 from SG-ETL-Lambda and SG-Shiny, admits from {sorted(map(str, sources))}")
    return found


def private_routes(t: Template) -> list[str]:
    found = []
    public_table = route_table_of(t, subnet(t, PUBLIC_CIDR))
    for cidr in PRIVATE_CIDRS:
        sid = subnet(t, cidr)
        table = route_table_of(t, sid)
        if table is None or table == public_table:
            found.append(f"private subnet {cidr} must have its own route table, has {table}")
            continue
        if is_true(props(t["Resources"][sid]).get("MapPublicIpOnLaunch")):
            found.append(f"private subnet {cidr} maps public IPs on launch")
        for lid, route in resources(t, "AWS::EC2::Route").items():
            if target(props(route).get("RouteTableId")) == table:
                hops = {k: props(route)[k] for k in ROUTE_TARGETS if k in props(route)}
                found.append(f"private route table {table} ({cidr}) has route {lid} to {hops}")
    return found


def public_route(t: Template) -> list[str]:
    table = route_table_of(t, subnet(t, PUBLIC_CIDR))
    gateways = resources(t, "AWS::EC2::InternetGateway")
    for route in resources(t, "AWS::EC2::Route").values():
        p = props(route)
        to_internet = p.get("DestinationCidrBlock") == "0.0.0.0/0" and target(p.get("GatewayId")) in gateways
        if target(p.get("RouteTableId")) == table and to_internet:
            return []
    return [f"the public route table {table} has no 0.0.0.0/0 route to the Internet Gateway"]


def nat(t: Template) -> list[str]:
    found = [f"NAT gateway {lid}" for lid in resources(t, "AWS::EC2::NatGateway")]
    for lid, route in resources(t, "AWS::EC2::Route").items():
        if "NatGatewayId" in props(route) or "InstanceId" in props(route):
            found.append(f"route {lid} goes through a NAT (gateway or instance)")
    return found


def warehouse_public_ip(t: Template) -> list[str]:
    lid = warehouse_instance(t)
    p = props(t["Resources"][lid])
    subnet_props = props(t["Resources"][subnet(t, ANALYTICS_CIDR)])
    primary = [n for n in p.get("NetworkInterfaces", []) if str(n.get("DeviceIndex")) == "0"]
    associate = primary[0].get("AssociatePublicIpAddress") if primary else None
    found = []
    if is_true(associate) or (associate is None and is_true(subnet_props.get("MapPublicIpOnLaunch"))):
        found.append(f"{lid} gets a public IP address")
    for type_ in ("AWS::EC2::EIP", "AWS::EC2::EIPAssociation"):
        found += [
            f"{eip} gives {lid} an Elastic IP"
            for eip, r in resources(t, type_).items()
            if target(props(r).get("InstanceId")) == lid
        ]
    return found


def imdsv1(t: Template) -> list[str]:
    return [
        f"{lid} does not require IMDSv2 (MetadataOptions.HttpTokens: required)"
        for lid, instance in resources(t, "AWS::EC2::Instance").items()
        if props(instance).get("MetadataOptions", {}).get("HttpTokens") != "required"
    ]


def unencrypted_volumes(t: Template) -> list[str]:
    found = []
    for lid, instance in resources(t, "AWS::EC2::Instance").items():
        mappings = [m for m in props(instance).get("BlockDeviceMappings", []) if "Ebs" in m]
        if not mappings:
            found.append(f"{lid} does not map its root volume, so cannot say it is encrypted")
        found += [
            f"{lid} volume {m.get('DeviceName')} is not encrypted"
            for m in mappings
            if not is_true(m["Ebs"].get("Encrypted"))
        ]
    for lid, volume in resources(t, "AWS::EC2::Volume").items():
        if not is_true(props(volume).get("Encrypted")):
            found.append(f"volume {lid} is not encrypted")
    return found


def instance_roles(t: Template) -> list[str]:
    found = []
    profiles = resources(t, "AWS::IAM::InstanceProfile")
    for lid, instance in resources(t, "AWS::EC2::Instance").items():
        profile = target(props(instance).get("IamInstanceProfile"))
        if profile not in profiles:
            found.append(f"{lid} has no instance profile of this template (Session Manager needs one)")
            continue
        for role in map(target, props(profiles[profile]).get("Roles", [])):
            if role is None or role not in t["Resources"]:
                found.append(f"{profile} uses a role outside this template")
                continue
            managed = props(t["Resources"][role]).get("ManagedPolicyArns", [])
            texts = [sub_text(m) or m for m in managed]
            if texts not in (
                [f"arn:${{AWS::Partition}}:iam::aws:policy/{SSM_CORE_POLICY}"],
                [f"arn:aws:iam::aws:policy/{SSM_CORE_POLICY}"],
            ):
                found.append(f"{role} must have exactly the managed policy {SSM_CORE_POLICY}, has {texts}")
            # the warehouse host's reads of its two password parameters: warehouse_host_parameter_reads
            others = [
                s for s in role_statements(t, role) if not (role == warehouse_role(t) and is_parameter_statement(s))
            ]
            if others:
                found.append(f"{role} must have no other policy, has {others}")
    return found


def ingest_role(t: Template) -> list[str]:
    role = role_of_function(t, INGEST_FUNCTION)
    statements = role_statements(t, role)
    found = [f"{role} must have no managed policy"] if props(t["Resources"][role]).get("ManagedPolicyArns") else []
    granted = set().union(*(actions(s) for s in statements if s.get("Effect") == "Allow"))
    if granted != INGEST_ACTIONS:
        found.append(f"{role} actions are {sorted(granted)}, expected exactly {sorted(INGEST_ACTIONS)}")
    return found + [v for s in statements for v in statement_violations(t, role, s)]


def etl_role(t: Template) -> list[str]:
    """Exactly the ETL's minimal actions, each scoped, in every deploy: with a shop database also
    secretsmanager:GetSecretValue (its scope and condition: etl_shop_secret_read); with Redshift Serverless the Data
    API's statements and GetCredentials on the workgroup, its own statements' results, PutObject on the staging
    prefix; with EMR Serverless StartJobRun and GetJobRun on the application and PassRole on the job role. Nothing on
    "*" but the network interfaces and the Data API's reads of its own statements (IAM scopes them no further)."""
    found = []
    for values in VARIANTS:
        d = deployed(t, **values)
        role = role_of_function(d, ETL_FUNCTION)
        where = f"{variant_name(values)}: {role}"
        statements = role_statements(d, role)
        if props(d["Resources"][role]).get("ManagedPolicyArns"):
            found.append(f"{where} must have no managed policy")
        wanted = ETL_ACTIONS | ({SHOP_SECRET_ACTION} if has_shop_database(values) else set())
        wanted |= (REDSHIFT_ETL_ACTIONS if uses_redshift(values) else set()) | (
            SPARK_ETL_ACTIONS if uses_spark(values) else set()
        )
        granted = set().union(*(actions(s) for s in statements if s.get("Effect") == "Allow"))
        if granted != wanted:
            found.append(f"{where} actions are {sorted(granted)}, expected exactly {sorted(wanted)}")
        for s in statements:
            on_star = ENI_ACTIONS | (OWN_STATEMENT_ACTIONS if s.get("Condition") == OWN_STATEMENTS else set())
            if "*" in as_list(s.get("Resource")) and not actions(s) <= on_star:
                found.append(f"{where} statement {s.get('Sid')} grants {sorted(actions(s) - on_star)} on '*'")
        found += [f"{variant_name(values)}: {v}" for s in statements for v in statement_violations(d, role, s)]
    return found


def functions_without_explicit_roles(t: Template) -> list[str]:
    found = [
        f"Globals.Function sets {k}" for k in ("Policies", "Role") if k in t.get("Globals", {}).get("Function", {})
    ]
    for lid, function in resources(t, "AWS::Serverless::Function").items():
        if "Policies" in props(function):
            found.append(f"{lid} uses SAM Policies (a role generated at deploy time, unseen by these tests)")
        if target(props(function).get("Role")) not in resources(t, "AWS::IAM::Role"):
            found.append(f"{lid} does not use an AWS::IAM::Role of this template")
    return found


def etl_placement(t: Template) -> list[str]:
    p = props(t["Resources"][ETL_FUNCTION])
    vpc = p.get("VpcConfig", {})
    found = []
    if [target(s) for s in vpc.get("SubnetIds", [])] != [subnet(t, ETL_CIDR)]:
        found.append(f"{ETL_FUNCTION} must run in the ETL subnet only, runs in {vpc.get('SubnetIds')}")
    if [target(s) for s in vpc.get("SecurityGroupIds", [])] != [security_group(t, "SG-ETL-Lambda")]:
        found.append(f"{ETL_FUNCTION} must use SG-ETL-Lambda only, uses {vpc.get('SecurityGroupIds')}")
    if p.get("ReservedConcurrentExecutions") != 1:
        found.append(f"{ETL_FUNCTION} must have reserved concurrency 1, has {p.get('ReservedConcurrentExecutions')}")
    return found


def raw_bucket_settings(t: Template) -> list[str]:
    bucket = raw_bucket(t)
    p = props(t["Resources"][bucket])
    found = bucket_basics(t, bucket)
    lifecycle = [r for r in p.get("LifecycleConfiguration", {}).get("Rules", []) if r.get("Status") == "Enabled"]
    transitions = [tr for r in lifecycle for tr in r.get("Transitions", [])]
    if {"StorageClass": "STANDARD_IA", "TransitionInDays": 30} not in transitions:
        found.append(f"{bucket} does not move objects to STANDARD_IA after 30 days")
    if not any("NoncurrentVersionExpiration" in r for r in lifecycle):
        found.append(f"{bucket} never expires noncurrent versions")
    return found


def raw_bucket_tls(t: Template) -> list[str]:
    return bucket_tls(t, raw_bucket(t))


def outputs_without_description(t: Template) -> list[str]:
    return [name for name, output in t.get("Outputs", {}).items() if not str(output.get("Description", "")).strip()]


def section_order(t: Template) -> list[str]:
    wanted = ["Parameters", "Globals", "Resources", "Outputs"]
    present = [k for k in t if k in wanted]
    return [] if present == wanted else [f"sections are {present}, expected {wanted}"]


def endpoint_reachability(t: Template) -> list[str]:
    """Every instance and VPC function reaches every interface endpoint on 443 (Session Manager, Parameter Store),
    in the default deploy and with the optional resources on: its groups let 443 out to the endpoint's subnet (or
    group), and the endpoint's groups admit 443 from one of its groups or from a network holding its subnet."""
    found = []
    for values in VARIANTS:
        d = deployed(t, **values)
        egress = egress_rules(d)
        ingress = ingress_rules(d)
        endpoints = interface_endpoints(d)
        if not endpoints:
            found.append(f"{variant_name(values)}: no interface endpoint")
        for lid, endpoint in endpoints.items():
            groups = {target(g) for g in props(endpoint).get("SecurityGroupIds", [])}
            cidrs = [subnet_cidr(d, target(s)) for s in props(endpoint).get("SubnetIds", [])]
            for workload, own_groups, cidr in workloads(d):
                admitted = any(
                    group in groups
                    and covers_port(rule, 443)
                    and (target(rule.get("SourceSecurityGroupId")) in own_groups or within(cidr, rule.get("CidrIp")))
                    for group, rule in ingress
                )
                let_out = any(
                    covers_port(rule, 443)
                    and (
                        target(rule.get("DestinationSecurityGroupId")) in groups
                        or (cidrs and all(within(c, rule.get("CidrIp")) for c in cidrs))
                    )
                    for group in own_groups
                    for rule in egress.get(str(group), [])
                )
                if not admitted:
                    found.append(
                        f"{variant_name(values)}: {lid}'s groups {sorted(map(str, groups))} do not admit 443 from {workload}"
                    )
                if not let_out:
                    found.append(f"{variant_name(values)}: {workload}'s groups do not let 443 out to {lid} ({cidrs})")
    return found


def ssm_endpoints(t: Template) -> list[str]:
    """ssm, ssmmessages and ec2messages interface endpoints, with private DNS, in private subnets, in SG-Endpoints."""
    private = {subnet(t, cidr) for cidr in PRIVATE_CIDRS}
    group = security_group(t, "SG-Endpoints")
    found = []
    for service in SSM_SERVICES:
        name = f"com.amazonaws.${{AWS::Region}}.{service}"
        matches = {
            lid: props(e) for lid, e in interface_endpoints(t).items() if sub_text(props(e).get("ServiceName")) == name
        }
        if not matches:
            found.append(f"no {service} interface endpoint")
        for lid, p in matches.items():
            subnets = {target(s) for s in p.get("SubnetIds", [])}
            if not subnets or not subnets <= private:
                found.append(f"{lid} must be in private subnets only, is in {sorted(map(str, subnets))}")
            if not is_true(p.get("PrivateDnsEnabled")):
                found.append(f"{lid} needs PrivateDnsEnabled (the agents call the service's public name)")
            if {target(g) for g in p.get("SecurityGroupIds", [])} != {group}:
                found.append(f"{lid} must use SG-Endpoints only, uses {p.get('SecurityGroupIds')}")
    return found


def s3_gateway_endpoint(t: Template) -> list[str]:
    """One S3 gateway endpoint on both private route tables, letting GetObject reach this account's buckets (the raw
    bucket for the ETL, the artifacts bucket for the host)."""
    name = "com.amazonaws.${AWS::Region}.s3"
    gateways = [
        props(e)
        for e in resources(t, "AWS::EC2::VPCEndpoint").values()
        if props(e).get("VpcEndpointType") == "Gateway" and sub_text(props(e).get("ServiceName")) == name
    ]
    if len(gateways) != 1:
        return [f"expected one S3 gateway endpoint, found {len(gateways)}"]
    gateway = gateways[0]
    tables = {target(r) for r in gateway.get("RouteTableIds", [])}
    found = [
        f"the S3 gateway endpoint is not on the route table of {cidr} ({route_table_of(t, subnet(t, cidr))})"
        for cidr in PRIVATE_CIDRS
        if route_table_of(t, subnet(t, cidr)) not in tables
    ]
    if "PolicyDocument" not in gateway:
        return found  # no policy: the endpoint allows everything
    this_account = {"StringEquals": {"aws:ResourceAccount": {"Ref": "AWS::AccountId"}}}
    reads_this_account = any(
        s.get("Effect") == "Allow"
        and s.get("Principal") in ("*", {"AWS": "*"})
        and actions(s) & {"s3:getobject", "s3:*", "*"}
        and "*" in as_list(s.get("Resource"))
        and s.get("Condition", this_account) == this_account
        for s in as_list(gateway["PolicyDocument"]["Statement"])
    )
    if not reads_this_account:
        found.append("the S3 gateway endpoint's policy does not let s3:GetObject reach this account's buckets")
    return found


def etl_lambda_ingress(t: Template) -> list[str]:
    group = security_group(t, "SG-ETL-Lambda")
    return [f"SG-ETL-Lambda admits {rule}" for g, rule in ingress_rules(t) if g == group]


def shiny_ingress(t: Template) -> list[str]:
    """SG-Shiny admits port 8050 only, from AdminCidr only; by default AdminCidr reaches no other subnet."""
    group = security_group(t, "SG-Shiny")
    rules = [rule for g, rule in ingress_rules(t) if g == group]
    found = [] if rules else ["SG-Shiny admits nothing: the dashboard needs 8050 from AdminCidr"]
    for rule in rules:
        exact = str(rule.get("IpProtocol")) == "tcp" and rule.get("FromPort") == rule.get("ToPort") == DASHBOARD_PORT
        sources = {k for k in ("CidrIp", "CidrIpv6", "SourceSecurityGroupId", "SourcePrefixListId") if k in rule}
        if not exact or sources != {"CidrIp"} or rule["CidrIp"] != {"Ref": "AdminCidr"}:
            found.append(f"SG-Shiny admits {rule}, only tcp {DASHBOARD_PORT} from AdminCidr is expected")
    default = ipaddress.ip_network(str(parameter_default(t, "AdminCidr")), strict=False)
    found += [
        f"AdminCidr's default {default} reaches the subnet {cidr}"
        for cidr in (PUBLIC_CIDR, ETL_CIDR)
        if default.overlaps(ipaddress.ip_network(cidr))
    ]
    return found


def oltp_off_by_default(t: Template) -> list[str]:
    """DeployOltpInstance defaults to "false": no host in the public subnet by default, one when it is "true"."""
    public = subnet(t, PUBLIC_CIDR)
    found = []
    if t.get("Parameters", {}).get("DeployOltpInstance", {}).get("Default") != "false":
        found.append('DeployOltpInstance must default to "false"')
    for values, wanted in (({}, 0), ({"DeployOltpInstance": "true"}, 1)):
        d = deployed(t, **values)
        hosts = [lid for lid, i in resources(d, "AWS::EC2::Instance").items() if instance_subnet(i) == public]
        if len(hosts) != wanted:
            found.append(f"{variant_name(values)}: {len(hosts)} hosts in the public subnet, expected {wanted}")
    return found


def checkov_skips(t: Template) -> list[str]:
    """Every checkov skip names a check and says why (Metadata: checkov: skip: - id, comment)."""
    found = []
    for lid, resource in t.get("Resources", {}).items():
        for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip", []):
            if not re.fullmatch(r"CKV2?_AWS_\d+", str(skip.get("id", ""))):
                found.append(f"{lid}: checkov skip without a check id: {skip}")
            if len(" ".join(str(skip.get("comment") or "").split())) < 20:
                found.append(f"{lid}: checkov skip {skip.get('id')} has no justification (comment)")
    return found


def dashboard_reads_marts_only(t: Template) -> list[str]:
    """The dashboard's role: read-only, granted schema marts only (no pg_read_all_data or any predefined role)."""
    lines = sql_lines(user_data(t, warehouse_instance(t)))
    granted = [line for line in lines if re.search(rf"\bto {DASHBOARD_ROLE}\b", line)]
    found = [
        f"the user data grants `{line}`: the dashboard reads schema marts only"
        for line in granted
        if line not in DASHBOARD_GRANTS
    ]
    found += [
        f"the user data must run `{wanted}`" for wanted in [*DASHBOARD_GRANTS, *DASHBOARD_SETUP] if wanted not in lines
    ]
    found += [f"the user data mentions {role}" for role in re.findall(r"\bpg_(?:read|write)_all_\w+", " ".join(lines))]
    return found


def unit_dependencies(t: Template) -> list[str]:
    """A systemd unit ordered After= a unit also Wants= (or Requires=) it: ordering alone pulls nothing in."""
    found = []
    sections = re.findall(r"^\[Unit\]\n(.*?)(?=^\[|^EOF$)", user_data(t, warehouse_instance(t)), re.S | re.M)
    if not any("After=" in s for s in sections):
        return ["the warehouse user data writes no systemd unit with After="]
    for section in sections:
        keys: dict[str, set[str]] = {}
        for line in section.splitlines():
            key, _, value = line.partition("=")
            keys.setdefault(key.strip(), set()).update(value.split())
        pulled = set().union(*(keys.get(k, set()) for k in ("Wants", "Requires", "BindsTo", "Requisite")))
        found += [f"a unit is ordered After={u} without Wants={u}" for u in sorted(keys.get("After", set()) - pulled)]
    return found


def artifacts_bucket_settings(t: Template) -> list[str]:
    bucket = artifacts_bucket(t)
    return bucket_basics(t, bucket) + bucket_tls(t, bucket)


def artifacts_bucket_access(t: Template) -> list[str]:
    """The artifacts bucket's policy: the TLS-only deny, and s3:GetObject on dashboard/* for the warehouse host's
    role (by ARN), nothing else; the host's user data downloads from under that prefix."""
    bucket = artifacts_bucket(t)
    role = warehouse_role(t)
    wanted = {
        "Effect": "Allow",
        "Principal": {"AWS": {"Fn::GetAtt": [role, "Arn"]}},
        "actions": {"s3:getobject"},
        "Resource": [{"Fn::Sub": f"${{{bucket}.Arn}}/{ARTIFACTS_PREFIX}*"}],
    }
    found, grants = [], 0
    for s in bucket_policy_statements(t, bucket):
        if is_tls_deny(s, bucket):
            continue
        shape = {
            "Effect": s.get("Effect"),
            "Principal": s.get("Principal"),
            "actions": actions(s),
            "Resource": as_list(s.get("Resource")),
        }
        if shape == wanted and set(s) <= {"Sid", "Effect", "Principal", "Action", "Resource"}:
            grants += 1
        else:
            found.append(
                f"{bucket} policy statement {s.get('Sid', '?')} is not the warehouse role's GetObject on {ARTIFACTS_PREFIX}*: {s}"
            )
    if grants != 1:
        found.append(
            f"{bucket} policy must grant {role} s3:GetObject on {ARTIFACTS_PREFIX}* once, grants it {grants} times"
        )
    if f"s3://${{{bucket}}}/{ARTIFACTS_PREFIX}" not in user_data(t, warehouse_instance(t)):
        found.append(f"the warehouse user data does not download from s3://${{{bucket}}}/{ARTIFACTS_PREFIX}")
    return found


def warehouse_data_volume(t: Template) -> list[str]:
    """PGDATA on a separate encrypted gp3 volume that outlives the host, formatted only if empty and mounted at
    /var/lib/pgsql by UUID with nofail."""
    lid = warehouse_instance(t)
    mappings = [m for m in props(t["Resources"][lid]).get("BlockDeviceMappings", []) if "Ebs" in m]
    data = [m for m in mappings if m.get("DeviceName") != ROOT_DEVICE]
    if len(data) != 1:
        return [f"{lid} must map one data volume besides its root volume, maps {[m.get('DeviceName') for m in data]}"]
    device, ebs = data[0]["DeviceName"], data[0]["Ebs"]
    found = []
    if not is_true(ebs.get("Encrypted")):
        found.append(f"{lid} data volume {device} is not encrypted")
    if str(ebs.get("DeleteOnTermination")).lower() != "false":  # absent means true for a mapped volume
        found.append(
            f"{lid} data volume {device} must set DeleteOnTermination: false (the warehouse outlives the host)"
        )
    if ebs.get("VolumeType") != "gp3" or ebs.get("VolumeSize") != {"Ref": "WarehouseDataVolumeSize"}:
        found.append(f"{lid} data volume {device} must be gp3 of WarehouseDataVolumeSize GiB, is {ebs}")
    text = user_data(t, lid)
    for needed in (
        f"DATA_DEVICE={device}",
        "blkid -p $DATA_DEVICE",
        "UUID=$DATA_UUID /var/lib/pgsql xfs defaults,nofail 0 2",
        "RequiresMountsFor=/var/lib/pgsql",
    ):
        if needed not in text:
            found.append(f"the warehouse user data lacks `{needed}` (format only if empty, mount by UUID with nofail)")
    return found


def first_boot_parameters(t: Template) -> list[str]:
    """Parameters baked into the user data say that they are applied at first boot only."""
    named = set(re.findall(r"\$\{([A-Za-z0-9]+)\}", user_data(t, warehouse_instance(t))))
    parameters = t.get("Parameters", {})
    return [
        f"parameter {name} is used by the user data but its Description does not say 'first boot'"
        for name in sorted(named & set(parameters))
        if "first boot" not in " ".join(str(parameters[name].get("Description", "")).split()).lower()
    ]


def ip_hash_salt(t: Template) -> list[str]:
    """IpHashSalt: empty or at least 16 characters (what loader/config.py accepts), never echoed."""
    param = t.get("Parameters", {}).get("IpHashSalt", {})
    pattern = param.get("AllowedPattern")
    found = [] if is_true(param.get("NoEcho")) else ["IpHashSalt must be NoEcho"]
    if pattern is None or not param.get("ConstraintDescription"):
        return [*found, "IpHashSalt needs an AllowedPattern (empty or 16+ characters) and a ConstraintDescription"]
    for value, allowed in (("", True), ("s" * 16, True), ("s" * 64, True), ("s" * 15, False), ("salt", False)):
        if bool(re.fullmatch(pattern, value)) != allowed:
            found.append(
                f"IpHashSalt's pattern {pattern!r} {'refuses' if allowed else 'accepts'} {len(value)} characters"
            )
    return found


def etl_over_tls(t: Template) -> list[str]:
    """The ETL connects with sslmode require (or verifying), and the host admits its subnet over TLS only."""
    mode = props(t["Resources"][ETL_FUNCTION])["Environment"]["Variables"].get("DW_PG_SSL")
    found = (
        [] if mode in ("require", "verify-ca", "verify-full") else [f"DW_PG_SSL is {mode!r}, the ETL must require TLS"]
    )
    hba = [line.split() for line in user_data(t, warehouse_instance(t)).splitlines() if ETL_CIDR in line]
    if not hba or any(fields[0] != "hostssl" for fields in hba):
        found.append(f"pg_hba.conf must admit {ETL_CIDR} with hostssl only, has {hba}")
    return found


def legacy_role_loopback_only(t: Template) -> list[str]:
    """pg_hba.conf admits the old R dashboard's role to the warehouse database from the loopback interface only
    (127.0.0.1/32 and ::1/128, scram-sha-256): never from the ETL subnet or anywhere else, not through `all`."""
    entries = pg_hba_entries(user_data(t, warehouse_instance(t)))
    if not entries:
        return ["the warehouse user data writes no pg_hba.conf"]
    found, addresses = [], set()
    for fields in entries:
        users = fields[2].split(",") if len(fields) > 2 else []
        if LEGACY_ROLE not in users and "all" not in users:
            continue
        kind, database = fields[0], fields[1]
        address, method = (fields[3], fields[-1]) if len(fields) > 4 else (None, fields[-1])
        if kind not in ("host", "hostssl") or address not in LOOPBACK or method != "scram-sha-256":
            found.append(f"pg_hba.conf admits {LEGACY_ROLE} with `{' '.join(fields)}`: loopback + scram-sha-256 only")
        if database != "${WarehouseDatabaseName}":
            found.append(f"pg_hba.conf admits {LEGACY_ROLE} to {database}, not the warehouse database only")
        addresses.add(address)
    if addresses != set(LOOPBACK):
        found.append(
            f"pg_hba.conf must admit {LEGACY_ROLE} from {LOOPBACK} (the old dashboard on the host), has {addresses}"
        )
    return found


def legacy_role_read_only(t: Template) -> list[str]:
    """The old R dashboard's role: read-only, a statement_timeout, a modest connection limit, no attribute beyond
    login, and granted exactly the public view and schema marts (no predefined role, no staging)."""
    lines = sql_lines(user_data(t, warehouse_instance(t)))
    found = []
    granted = [line for line in lines if re.search(rf"\bto {LEGACY_ROLE}\b", line)]
    found += [
        f"the user data grants `{line}`: {LEGACY_ROLE} reads the public view and marts only"
        for line in granted
        if line not in LEGACY_GRANTS
    ]
    found += [f"the user data must run `{wanted}`" for wanted in LEGACY_GRANTS if wanted not in lines]
    settings = [line for line in lines if line.startswith(f"alter role {LEGACY_ROLE} set ")]
    if LEGACY_READ_ONLY not in settings:
        found.append(f"the user data must run `{LEGACY_READ_ONLY}`")
    timeouts = [re.fullmatch(rf"alter role {LEGACY_ROLE} set statement_timeout = '(\d+)s'", line) for line in settings]
    seconds = [int(m.group(1)) for m in timeouts if m]
    if not seconds or not all(0 < n <= LEGACY_MAX_TIMEOUT_SECONDS for n in seconds):
        found.append(f"{LEGACY_ROLE} needs a statement_timeout of 1 to {LEGACY_MAX_TIMEOUT_SECONDS}s, has {seconds}")
    found += [
        f"the user data sets `{line}` for {LEGACY_ROLE}"
        for line, m in zip(settings, timeouts, strict=True)
        if line != LEGACY_READ_ONLY and m is None
    ]
    attributes = [line for line in lines if line.startswith(f"alter role {LEGACY_ROLE} with ")]
    if not attributes:
        found.append(f"the user data never sets {LEGACY_ROLE}'s login and connection limit")
    for line in attributes:
        limit = re.search(r"\bconnection limit (-?\d+)\b", line)
        if limit is None or not 0 < int(limit.group(1)) <= LEGACY_MAX_CONNECTIONS:
            found.append(f"`{line}`: {LEGACY_ROLE} needs a connection limit of 1 to {LEGACY_MAX_CONNECTIONS}")
        for attribute in ("superuser", "createdb", "createrole", "replication", "bypassrls"):
            if re.search(rf"\b{attribute}\b", line):
                found.append(f"`{line}` gives {LEGACY_ROLE} {attribute}")
    found += [
        f"`{line}` makes {LEGACY_ROLE} a member of a role"
        for line in lines
        if re.fullmatch(rf"grant [a-z_]+ to {LEGACY_ROLE}", line)
    ]
    return found


def legacy_password_from_parameter(t: Template) -> list[str]:
    """clickstream_legacy's password is the SecureString named by LegacyDashboardPasswordParameterName, read on the
    host (like the ETL's): never inline in the user data, and no template parameter holds a password itself."""
    text = user_data(t, warehouse_instance(t))
    lines = sql_lines(text)
    param = t.get("Parameters", {}).get("LegacyDashboardPasswordParameterName")
    etl_param = t.get("Parameters", {}).get("WarehousePasswordParameterName", {})
    found = []
    if param is None:
        found.append("no parameter LegacyDashboardPasswordParameterName")
    elif (param.get("Type"), param.get("AllowedPattern")) != ("String", etl_param.get("AllowedPattern")) or not str(
        param.get("Default", "")
    ).startswith("/"):
        found.append(
            "LegacyDashboardPasswordParameterName must be a parameter name like WarehousePasswordParameterName"
        )
    found += [
        f"parameter {name} looks like it holds a password itself: pass the name of a SecureString"
        for name in t.get("Parameters", {})
        if "password" in name.lower() and not name.endswith("ParameterName")
    ]
    for needed in (
        "CLICKSTREAM_LEGACY_PASSWORD_PARAM=${LegacyDashboardPasswordParameterName}",
        'aws ssm get-parameter --region "$AWS_REGION" --name "$CLICKSTREAM_LEGACY_PASSWORD_PARAM"',
        "\\getenv legacy_password LEGACY_PASSWORD",
    ):
        if needed not in text:
            found.append(f"the warehouse user data lacks `{needed}` (the password comes from the named parameter)")
    passwords = [
        re.search(r"\bpassword (\S+)", line) for line in lines if line.startswith(f"alter role {LEGACY_ROLE} with ")
    ]
    found += [
        f"{LEGACY_ROLE}'s password is set to {m.group(1) if m else 'nothing'}, not :'legacy_password' (or null)"
        for m in passwords
        if m is None or m.group(1) not in (":'legacy_password'", "null")
    ]
    if not any(m and m.group(1) == ":'legacy_password'" for m in passwords):
        found.append(f"{LEGACY_ROLE}'s login password is never set from the parameter")
    return found


def legacy_missing_parameter_is_not_fatal(t: Template) -> list[str]:
    """Without the legacy dashboard's SecureString the roles script warns and leaves the role without login (it does
    not fail the first boot); any other error reading it still fails (to be retried)."""
    text = user_data(t, warehouse_instance(t))
    lines = sql_lines(text)
    found = []
    branch = re.search(r"elif grep -q ParameterNotFound \"\$legacy_error\"; then\n(.*?)\n\s*else\n", text, re.S)
    if branch is None:
        found.append("the roles script does not treat a missing legacy dashboard parameter (ParameterNotFound) apart")
    elif "exit" in branch.group(1) or "LEGACY_LOGIN=off" not in branch.group(1):
        found.append("a missing legacy dashboard parameter must set LEGACY_LOGIN=off and carry on, not exit")
    without = f"alter role {LEGACY_ROLE} with nologin password null connection limit 5"
    if not re.search(rf"\\else\n{re.escape(without)}\n\\endif", "\n".join(lines)):
        found.append(f"without the parameter, `{without}` must be run (in the \\else branch)")
    return found


def warehouse_host_parameter_reads(t: Template) -> list[str]:
    """The warehouse host's role allows ssm:GetParameter on exactly its two password parameters and denies every
    other parameter read (AmazonSSMManagedInstanceCore alone grants ssm:GetParameter(s) on "*")."""
    role = warehouse_role(t)
    wanted = {parameter_arn(name) for name in PASSWORD_PARAMETERS}
    statements = [s for s in role_statements(t, str(role)) if is_parameter_statement(s)]
    allows = [s for s in statements if s.get("Effect") == "Allow"]
    denies = [s for s in statements if s.get("Effect") == "Deny"]
    found = []
    if len(allows) != 1:
        found.append(f"{role} needs one statement allowing its two password parameters, has {len(allows)}")
    for s in allows:
        resources_ = as_list(s.get("Resource"))
        if actions(s) != {"ssm:getparameter"} or len(resources_) != 2 or {sub_text(r) for r in resources_} != wanted:
            found.append(
                f"{role} statement {s.get('Sid')} must allow ssm:GetParameter on exactly {sorted(wanted)}: {s}"
            )
        if "Condition" in s or "NotResource" in s:
            found.append(f"{role} statement {s.get('Sid')} must be a plain Allow on the two ARNs")
    scoped = [
        s
        for s in denies
        if actions(s) >= PARAMETER_READ_ACTIONS
        and "Resource" not in s
        and "Condition" not in s
        and len(as_list(s.get("NotResource"))) == 2
        and {sub_text(r) for r in as_list(s.get("NotResource"))} == wanted
    ]
    if len(scoped) != 1 or len(denies) != 1:
        found.append(
            f"{role} needs one Deny of {sorted(PARAMETER_READ_ACTIONS)} on NotResource {sorted(wanted)}, has {denies}"
        )
    return found


def etl_anonymises_like_ingest(t: Template) -> list[str]:
    """The ETL gets the collector's IP mode and salt (it anonymises addresses found in old raw objects at load)."""
    ingest = props(t["Resources"][INGEST_FUNCTION])["Environment"]["Variables"]
    etl = props(t["Resources"][ETL_FUNCTION])["Environment"]["Variables"]
    salt = {"Fn::If": ["UseIpHash", {"Ref": "IpHashSalt"}, {"Ref": "AWS::NoValue"}]}
    found = []
    for name, wanted in (("CLICKSTREAM_IP_MODE", {"Ref": "IpMode"}), ("CLICKSTREAM_IP_SALT", salt)):
        if etl.get(name) != wanted or ingest.get(name) != wanted:
            found.append(f"{name} must be {wanted} for both functions: ingest {ingest.get(name)}, ETL {etl.get(name)}")
    if t.get("Conditions", {}).get("UseIpHash") != {"Fn::Equals": [{"Ref": "IpMode"}, "hash"]}:
        found.append("the condition UseIpHash must be IpMode = hash")
    return found


def database_default_matches_package(t: Template) -> list[str]:
    """WarehouseDatabaseName defaults to the old dashboard's database, which is what `make package` pre-parses the
    ETL's dbt manifest for (the Makefile, scripts/package.py and the integration test that mimics the template)."""
    default = parameter_default(t, "WarehouseDatabaseName")
    found = (
        []
        if default == LEGACY_DATABASE
        else [f"WarehouseDatabaseName defaults to {default!r}, not {LEGACY_DATABASE!r}"]
    )
    found += [
        f"{where} defaults to database {value!r}, the template to {default!r}"
        for where, value in package_database_defaults().items()
        if value != default
    ]
    return found


def legacy_connection_output(t: Template) -> list[str]:
    """An output gives the owner the old dashboard's five settings, the password as the SecureString's name."""
    output = t.get("Outputs", {}).get("LegacyDashboardConnection")
    if output is None:
        return ["no output LegacyDashboardConnection"]
    value = " ".join(str(sub_text(output.get("Value")) or "").split())
    return [
        f"LegacyDashboardConnection lacks `{needed}`: {value}"
        for needed in (
            "host=127.0.0.1",
            "port=5432",
            "dbname=${WarehouseDatabaseName}",
            f"user={LEGACY_ROLE}",
            "password=<SecureString ${LegacyDashboardPasswordParameterName}",
        )
        if needed not in value
    ]


def oltp_instance(t: Template) -> str | None:
    public = subnet(t, PUBLIC_CIDR)
    found = [lid for lid, i in resources(t, "AWS::EC2::Instance").items() if instance_subnet(i) == public]
    assert len(found) <= 1, f"expected at most one instance in the public subnet, found {found}"
    return found[0] if found else None


def is_exact_postgres(rule: dict[str, Any]) -> bool:
    return str(rule.get("IpProtocol")) == "tcp" and rule.get("FromPort") == rule.get("ToPort") == 5432


def may_overlap(value: Any, cidr: str) -> bool:
    """Whether a literal network overlaps ``cidr``; an expression this check cannot evaluate may."""
    try:
        return ipaddress.ip_network(str(value), strict=False).overlaps(ipaddress.ip_network(cidr))
    except (TypeError, ValueError):
        return not isinstance(value, str)


def oltp_postgres_ingress(t: Template) -> list[str]:
    """SG-OLTP admits 5432 from OltpIngressCidr (the storefront's servers) and, when the ETL copies the shop
    database, from SG-ETL-Lambda: no other source, no other port; and no other security group of the stack (SG-DW,
    SG-Shiny, SG-Endpoints) lets 5432 out to SG-OLTP or the public subnet."""
    found = []
    for values in VARIANTS:
        d = deployed(t, **values)
        if oltp_instance(d) is None:
            continue
        oltp, etl = security_group(d, "SG-OLTP"), security_group(d, "SG-ETL-Lambda")
        where = variant_name(values)
        sources: list[str] = []
        for group, rule in ingress_rules(d):
            if group != oltp:
                continue
            keys = {k for k in ("CidrIp", "CidrIpv6", "SourceSecurityGroupId", "SourcePrefixListId") if k in rule}
            if keys == {"CidrIp"} and rule["CidrIp"] == {"Ref": "OltpIngressCidr"}:
                source = "OltpIngressCidr"
            elif keys == {"SourceSecurityGroupId"} and target(rule["SourceSecurityGroupId"]) == etl:
                source = "SG-ETL-Lambda"
            else:
                source = f"{rule}"
            if not is_exact_postgres(rule) or source not in ("OltpIngressCidr", "SG-ETL-Lambda"):
                found.append(f"{where}: SG-OLTP admits {rule}: only 5432 from OltpIngressCidr and SG-ETL-Lambda")
            sources.append(source)
        wanted = ["OltpIngressCidr", *(["SG-ETL-Lambda"] if has_shop_database(values) else [])]
        if sorted(sources) != sorted(wanted):
            found.append(f"{where}: SG-OLTP must admit 5432 from {wanted} (once each), admits from {sorted(sources)}")
        for group, rules in egress_rules(d).items():
            if group == etl:
                continue  # etl_postgres_egress
            found += [
                f"{where}: {group} lets 5432 out to the OLTP host: {rule}"
                for rule in rules
                if covers_port(rule, 5432)
                and (
                    target(rule.get("DestinationSecurityGroupId")) == oltp
                    or ("CidrIp" in rule and may_overlap(rule["CidrIp"], PUBLIC_CIDR))
                )
            ]
    return found


def etl_postgres_egress(t: Template) -> list[str]:
    """SG-ETL-Lambda lets PostgreSQL out only to the warehouse subnet, to SG-OLTP (when it copies the shop database
    and the OLTP host exists) and to ShopDatabaseCidr on ShopDatabasePort (when that is set), which can never be the
    whole internet."""
    found = []
    for values in VARIANTS:
        d = deployed(t, **values)
        etl, where = security_group(d, "SG-ETL-Lambda"), variant_name(values)
        oltp = security_group(d, "SG-OLTP") if oltp_instance(d) else None
        seen = []
        for rule in egress_rules(d).get(etl, []):
            shop_port = rule.get("FromPort") == rule.get("ToPort") == {"Ref": "ShopDatabasePort"}
            if not (covers_port(rule, 5432) or shop_port):
                continue
            tcp = str(rule.get("IpProtocol")) == "tcp"
            keys = {
                k for k in ("CidrIp", "CidrIpv6", "DestinationSecurityGroupId", "DestinationPrefixListId") if k in rule
            }
            if is_exact_postgres(rule) and keys == {"CidrIp"} and rule["CidrIp"] == ANALYTICS_CIDR:
                seen.append("the warehouse subnet")
            elif is_exact_postgres(rule) and keys == {"DestinationSecurityGroupId"} and oltp is not None:
                if target(rule["DestinationSecurityGroupId"]) != oltp:
                    found.append(f"{where}: SG-ETL-Lambda lets PostgreSQL out to another group: {rule}")
                seen.append("SG-OLTP")
            elif tcp and shop_port and keys == {"CidrIp"} and rule["CidrIp"] == {"Ref": "ShopDatabaseCidr"}:
                seen.append("ShopDatabaseCidr")
            else:
                found.append(f"{where}: SG-ETL-Lambda lets PostgreSQL out with {rule}")
        wanted = ["the warehouse subnet"]
        if has_shop_database(values) and oltp is not None:
            wanted.append("SG-OLTP")
        if has_shop_database(values) and values.get("ShopDatabaseCidr"):
            wanted.append("ShopDatabaseCidr")
        if sorted(seen) != sorted(wanted):
            found.append(f"{where}: SG-ETL-Lambda must let PostgreSQL out to {wanted} (once each), does to {seen}")
    if may_be_world(t, {"Ref": "ShopDatabaseCidr"}) or "ShopDatabaseCidr" not in t.get("Parameters", {}):
        found.append("ShopDatabaseCidr must be a parameter that can never be the whole internet (AllowedPattern)")
    return found


def etl_shop_secret_read(t: Template) -> list[str]:
    """Secrets Manager is read by the ETL role only, only with a shop database (a statement under Fn::If), and only
    secretsmanager:GetSecretValue on the one secret ShopDatabaseSecretArn, which accepts a full secret ARN and
    never a wildcard."""
    found = []
    for values in VARIANTS:
        d = deployed(t, **values)
        etl, where, grants = role_of_function(d, ETL_FUNCTION), variant_name(values), 0
        for role in resources(d, "AWS::IAM::Role"):
            for s in role_statements(d, role):
                granted = {a for a in actions(s) if a.startswith("secretsmanager:")}
                if not granted or s.get("Effect") != "Allow":
                    continue
                if role != etl or not has_shop_database(values):
                    found.append(f"{where}: {role} statement {s.get('Sid')} grants {sorted(granted)}")
                elif (
                    actions(s) != {SHOP_SECRET_ACTION}
                    or "NotResource" in s
                    or as_list(s.get("Resource")) != [{"Ref": "ShopDatabaseSecretArn"}]
                ):
                    found.append(f"{where}: {role} must get GetSecretValue on ShopDatabaseSecretArn only: {s}")
                else:
                    grants += 1
        if has_shop_database(values) and grants != 1:
            found.append(f"{where}: {etl} must be granted GetSecretValue on ShopDatabaseSecretArn once, is {grants}")
    param = t.get("Parameters", {}).get("ShopDatabaseSecretArn", {})
    pattern = param.get("AllowedPattern")
    if param.get("Default") != "" or pattern is None:
        return [*found, "ShopDatabaseSecretArn must default to '' (no shop database) and have an AllowedPattern"]
    arn = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:"
    for value, allowed in (
        ("", True),
        (SHOP_SECRET_ARN, True),
        (f"{arn}shop-AbCdEf", True),
        ("*", False),
        (f"{arn}*", False),
        (f"{arn}shop-??????", False),
        (f"{arn}shop", False),  # without the suffix Secrets Manager adds, the policy's ARN would match no secret
        ("arn:aws:ssm:eu-west-1:111122223333:parameter/shop", False),
    ):
        if bool(re.fullmatch(pattern, value)) != allowed:
            found.append(f"ShopDatabaseSecretArn's pattern {'refuses' if allowed else 'accepts'} {value!r}")
    return found


def secrets_manager_endpoint(t: Template) -> list[str]:
    """A secretsmanager interface endpoint exactly when the ETL copies a shop database: in a private subnet, with
    private DNS, in SG-Endpoints, and the ETL function created after it."""
    name = "com.amazonaws.${AWS::Region}.secretsmanager"
    found = []
    for values in VARIANTS:
        d = deployed(t, **values)
        where, private, group = (
            variant_name(values),
            {subnet(d, c) for c in PRIVATE_CIDRS},
            security_group(d, "SG-Endpoints"),
        )
        matches = {
            lid: props(e) for lid, e in interface_endpoints(d).items() if sub_text(props(e).get("ServiceName")) == name
        }
        wanted = 1 if has_shop_database(values) else 0
        if len(matches) != wanted:
            found.append(f"{where}: {len(matches)} secretsmanager endpoints, expected {wanted}")
        depends = as_list(d["Resources"][ETL_FUNCTION].get("DependsOn", []))
        for lid, p in matches.items():
            subnets = {target(s) for s in p.get("SubnetIds", [])}
            if not subnets or not subnets <= private:
                found.append(f"{where}: {lid} must be in private subnets only, is in {sorted(map(str, subnets))}")
            if not is_true(p.get("PrivateDnsEnabled")):
                found.append(f"{where}: {lid} needs PrivateDnsEnabled (boto3 calls the service's public name)")
            if {target(g) for g in p.get("SecurityGroupIds", [])} != {group}:
                found.append(f"{where}: {lid} must use SG-Endpoints only, uses {p.get('SecurityGroupIds')}")
            waits = lid in depends or any(
                json.dumps({"Ref": lid}) in json.dumps(d["Resources"].get(str(r), {})) for r in depends
            )
            if not waits:
                found.append(
                    f"{where}: {ETL_FUNCTION} does not wait for {lid} (DependsOn, directly or through a handle)"
                )
    return found


SHOP_VARIABLES = (
    "SHOP_PG_HOST",
    "SHOP_PG_PORT",
    "SHOP_PG_DATABASE",
    "SHOP_PG_SCHEMA",
    "SHOP_PG_SSL",
    "SHOP_PG_SECRET_ARN",
)


def shop_variables(t: Template) -> list[str]:
    """The ETL gets the SHOP_PG_* settings only with a shop database: the OLTP host's private IP or ShopDatabaseHost,
    the port, database and schema parameters, SHOP_PG_SSL require and the secret's ARN; no other function gets any."""
    found = []
    for values in VARIANTS:
        d = deployed(t, **values)
        where = variant_name(values)
        for lid, function in resources(d, "AWS::Serverless::Function").items():
            variables = props(function).get("Environment", {}).get("Variables", {})
            shop = {k: v for k, v in variables.items() if k.startswith("SHOP_")}
            if lid != ETL_FUNCTION or not has_shop_database(values):
                found += [f"{where}: {lid} gets {k}" for k in shop]
                continue
            oltp = oltp_instance(d)
            host = (
                {"Ref": "ShopDatabaseHost"}
                if values.get("ShopDatabaseHost") or oltp is None
                else {"Fn::GetAtt": [oltp, "PrivateIp"]}
            )
            wanted = dict(
                zip(
                    SHOP_VARIABLES,
                    (
                        host,
                        {"Ref": "ShopDatabasePort"},
                        {"Ref": "ShopDatabaseName"},
                        {"Ref": "ShopDatabaseSchema"},
                        "require",
                        {"Ref": "ShopDatabaseSecretArn"},
                    ),
                    strict=True,
                )
            )
            found += [
                f"{where}: {ETL_FUNCTION} {k} is {shop.get(k)}, expected {wanted.get(k)}"
                for k in sorted(set(shop) | set(wanted))
                if shop.get(k) != wanted.get(k)
            ]
    return found


def shop_password_never_inline(t: Template) -> list[str]:
    """The shop database's password is only in its secret: the template never sets SHOP_PG_PASSWORD or SHOP_DB_URL
    (a URL would carry it), and no parameter holds a shop password, URL or credential."""
    text = json.dumps(t)
    found = [
        f"the template names {name}: the password comes from the secret"
        for name in ("SHOP_PG_PASSWORD", "SHOP_DB_URL")
        if name in text
    ]
    found += [
        f"parameter {name} looks like it holds the shop database's credentials: pass ShopDatabaseSecretArn"
        for name in t.get("Parameters", {})
        if name.lower().startswith("shop")
        and name != "ShopDatabaseSecretArn"
        and any(word in name.lower() for word in ("password", "url", "credential", "secret", "user"))
    ]
    return found


def shop_database_combinations(t: Template) -> list[str]:
    """The template's Rules accept the deploys the checks evaluate and refuse a shop database the ETL could not
    reach (no host, an outside host without its network, another port on the OLTP host) and settings nothing uses."""
    found = [f"{variant_name(values)} is refused: {r}" for values in VARIANTS for r in rule_refusals(t, values)]
    found += [
        f"{variant_name(values)} is accepted: the template's Rules must refuse it"
        for values in REFUSED_SHOP_DEPLOYS
        if not rule_refusals(t, values)
    ]
    return found


def oltp_admits_the_etl_over_tls(t: Template) -> list[str]:
    """The OLTP host's first-boot pg_hba.conf admits OltpIngressCidr and the ETL subnet, each hostssl with
    scram-sha-256; nothing over plain TCP, nothing without a password."""
    lid = oltp_instance(t)
    if lid is None:
        return ["no OLTP host in the public subnet"]
    entries = pg_hba_entries(user_data(t, lid))
    remote = [fields for fields in entries if fields[0] != "local"]
    found = [
        f"the OLTP host's pg_hba.conf has `{' '.join(fields)}`: hostssl with scram-sha-256 only"
        for fields in remote
        if fields[0] != "hostssl" or fields[-1] != "scram-sha-256"
    ]
    addresses = [fields[3] for fields in remote if len(fields) > 4]
    found += [
        f"the OLTP host's pg_hba.conf does not admit {wanted} (has {addresses})"
        for wanted in ("${OltpIngressCidr}", ETL_CIDR)
        if wanted not in addresses
    ]
    return found


# ---------------------------------------------------------------- the template keeps its promises

# ---------------------------------------------------------------- alarms and the data health's metrics

METRICS_NAMESPACE = "Clickstream"  # loader/metrics.py publishes here, dimension service = the stack's name
STACK_NAME = {"Ref": "AWS::StackName"}
ALARMS = "AWS::CloudWatch::Alarm"


def alarm_topic(t: Template) -> str | None:
    topics = list(resources(t, "AWS::SNS::Topic"))
    return topics[0] if len(topics) == 1 else None


def alarms_notify_an_encrypted_topic(t: Template) -> list[str]:
    """Every alarm notifies the one alarm topic (and again when OK), whatever the parameters; the topic is encrypted
    with a rotating key of this template that admits CloudWatch alarms of this account and no other principal but the
    account; the e-mail subscription exists only with AlarmEmail."""
    found = []
    topic = alarm_topic(t)
    if topic is None:
        return [f"expected one SNS topic for the alarms, found {list(resources(t, 'AWS::SNS::Topic'))}"]
    if "Condition" in t["Resources"][topic]:
        found.append(f"{topic} must exist in every deploy (its alarms always notify it), has a Condition")
    for lid, alarm in resources(t, ALARMS).items():
        for key in ("AlarmActions", "OKActions"):
            if props(alarm).get(key) != [{"Ref": topic}]:
                found.append(f"{lid}.{key} must be [{topic}] unconditionally, is {props(alarm).get(key)}")
    key = target(props(t["Resources"][topic]).get("KmsMasterKeyId"))
    if key not in resources(t, "AWS::KMS::Key"):
        return [*found, f"{topic} must be encrypted with a KMS key of this template, has {key}"]
    key_props = props(t["Resources"][key])
    if not is_true(key_props.get("EnableKeyRotation")):
        found.append(f"{key} must rotate")
    statements = as_list(key_props.get("KeyPolicy", {}).get("Statement", []))
    account_root = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
    cloudwatch = [s for s in statements if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    others = [s for s in statements if s not in cloudwatch and s.get("Principal") != {"AWS": account_root}]
    if others:
        found.append(f"{key} admits principals other than the account and CloudWatch: {others}")
    if not cloudwatch or any(
        actions(s) - {"kms:decrypt", "kms:generatedatakey*"}
        or s.get("Condition", {}).get("StringEquals", {}).get("aws:SourceAccount") != {"Ref": "AWS::AccountId"}
        for s in cloudwatch
    ):
        found.append(f"{key} must let CloudWatch, for this account only, Decrypt and GenerateDataKey*: {cloudwatch}")
    subscriptions = resources(t, "AWS::SNS::Subscription")
    if [props(sub).get("Endpoint") for sub in subscriptions.values()] != [{"Ref": "AlarmEmail"}] or any(
        sub.get("Condition") != "HasAlarmEmail" or target(props(sub).get("TopicArn")) != topic
        for sub in subscriptions.values()
    ):
        found.append(f"one e-mail subscription to {topic}, to AlarmEmail, only with HasAlarmEmail: {subscriptions}")
    return found


def _alarm_on(t: Template, namespace: str, metric: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (lid, props(alarm))
        for lid, alarm in resources(t, ALARMS).items()
        if props(alarm).get("Namespace") == namespace and props(alarm).get("MetricName") == metric
    ]


def health_alarms(t: Template) -> list[str]:
    """The alarms the data health issue asks for, on the metrics the ETL publishes (the same namespace and service
    dimension as its environment), plus the ETL's duration near its timeout and the collector's 5xx."""
    found = []
    variables = props(t["Resources"][ETL_FUNCTION]).get("Environment", {}).get("Variables", {})
    if variables.get("POWERTOOLS_METRICS_NAMESPACE") != METRICS_NAMESPACE:
        found.append(f"{ETL_FUNCTION} must publish its metrics in namespace {METRICS_NAMESPACE}")
    if variables.get("POWERTOOLS_SERVICE_NAME") != STACK_NAME:
        found.append(f"{ETL_FUNCTION}'s metrics must carry the stack's name as their service dimension")
    expected = {
        # metric: (comparison, threshold, how missing data counts)
        "HealthAnomalies": ("GreaterThanOrEqualToThreshold", 1, "notBreaching"),
        "Events": ("LessThanOrEqualToThreshold", 0, "breaching"),  # a dead tracker, or no ETL publishing
        "CaptureRate": ("LessThanThreshold", 50, "notBreaching"),
    }
    for metric, (comparison, threshold, missing) in expected.items():
        alarms = _alarm_on(t, METRICS_NAMESPACE, metric)
        if len(alarms) != 1:
            found.append(f"expected one alarm on {METRICS_NAMESPACE}/{metric}, found {[lid for lid, _ in alarms]}")
            continue
        lid, alarm = alarms[0]
        if alarm.get("Dimensions") != [{"Name": "service", "Value": STACK_NAME}]:
            found.append(f"{lid} must read the metric of this stack's ETL (service = the stack's name)")
        got = (alarm.get("ComparisonOperator"), float(alarm.get("Threshold", "nan")), alarm.get("TreatMissingData"))
        if got != (comparison, threshold, missing):
            found.append(f"{lid} must be {comparison} {threshold}, missing data {missing}; is {got}")
    timeout_ms = int(props(t["Resources"][ETL_FUNCTION])["Timeout"]) * 1000
    durations = [a for _, a in _alarm_on(t, "AWS/Lambda", "Duration")
                 if a.get("Dimensions") == [{"Name": "FunctionName", "Value": {"Ref": ETL_FUNCTION}}]]  # fmt: skip
    if not any(a.get("Statistic") == "Maximum" and 0.5 * timeout_ms <= float(a["Threshold"]) < timeout_ms
               for a in durations):  # fmt: skip
        found.append(f"expected an alarm on {ETL_FUNCTION}'s maximum Duration near its timeout ({timeout_ms} ms)")
    if not any(a.get("Dimensions") == [{"Name": "ApiId", "Value": {"Ref": "IngestApi"}}]
               for _, a in _alarm_on(t, "AWS/ApiGateway", "5xx")):  # fmt: skip
        found.append("expected an alarm on the ingest API's 5xx")
    return found


# ---------------------------------------------------------------- the optional engines (issue 20)

# The default deploy as it was before the optional engines: WarehouseEngine=postgres and SparkEngine=none must keep it.
DEFAULT_RESOURCES = frozenset(
    {
        *("AlarmTopic", "AlarmTopicKey", "AlarmTopicPolicy", "AnalyticsRouteTable", "AnalyticsSubnet"),
        *("AnalyticsSubnetRouteTableAssociation", "ArtifactsBucket", "ArtifactsBucketPolicy", "Ec2MessagesEndpoint"),
        *("EndpointSecurityGroup", "EtlDurationAlarm", "EtlErrorsAlarm", "EtlFunction", "EtlFunctionRole"),
        *("EtlLambdaSecurityGroup", "EtlLogGroup", "EtlRouteTable", "EtlSecretsEndpointReady", "EtlSubnet"),
        *("EtlSubnetRouteTableAssociation", "HealthAnomalyAlarm", "IngestApi", "IngestApiAccessLogGroup"),
        *("IngestFunction", "IngestFunctionRole", "IngestLogGroup", "IngestServerErrorsAlarm", "InternetGateway"),
        *("InternetGatewayAttachment", "LowCaptureRateAlarm", "NoEventsAlarm", "PublicDefaultRoute"),
        *("PublicRouteTable", "PublicSubnet", "PublicSubnetRouteTableAssociation", "RawBucket", "RawBucketPolicy"),
        *("RawNotificationsDeadLetterAlarm", "RawNotificationsDeadLetterQueue", "RawNotificationsQueue"),
        *("RawNotificationsQueuePolicy", "S3GatewayEndpoint", "ShinySecurityGroup", "SqsEndpoint", "SsmEndpoint"),
        *("SsmMessagesEndpoint", "Vpc", "WarehouseHostRole", "WarehouseInstance", "WarehouseInstanceProfile"),
        "WarehouseSecurityGroup",
    }
)
DEFAULT_OUTPUTS = frozenset(
    {
        *("AlarmTopicArn", "ArtifactsBucketName", "DashboardInstallCommand", "DashboardInstanceId"),
        *("DashboardPortForwardCommand", "DashboardUploadCommand", "EtlFunctionName", "EtlSecurityGroupId"),
        *("IngestEndpoint", "IngestFunctionName", "LegacyDashboardConnection", "RawBucketName", "WarehouseInstanceId"),
        *("WarehousePortForwardCommand", "WarehousePrivateIp"),
    }
)
DEFAULT_ETL_VARIABLES = frozenset(
    {
        *("CLICKSTREAM_IP_MODE", "CLICKSTREAM_LOOKBACK_HOURS", "DBT_SEND_ANONYMOUS_USAGE_STATS", "DW_PG_DATABASE"),
        *("DW_PG_HOST", "DW_PG_PASSWORD_PARAM", "DW_PG_PORT", "DW_PG_SSL", "DW_PG_USER", "HOME"),
        *("POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_SERVICE_NAME", "RAW_BUCKET_NAME", "RAW_PREFIX", "RAW_QUEUE_URL"),
    }
)
REDSHIFT_VARIABLES = (
    "CLICKSTREAM_WAREHOUSE_ENGINE",
    "CLICKSTREAM_REDSHIFT_WORKGROUP",
    "CLICKSTREAM_REDSHIFT_DATABASE",
    "CLICKSTREAM_REDSHIFT_COPY_ROLE_ARN",
    "CLICKSTREAM_REDSHIFT_STAGING_PREFIX",
)
SPARK_VARIABLES = ("CLICKSTREAM_EMR_APPLICATION_ID", "CLICKSTREAM_EMR_JOB_ROLE_ARN", "CLICKSTREAM_SPARK_LAKE_URI")


def default_deploy_unchanged(t: Template) -> list[str]:
    """WarehouseEngine defaults to postgres and SparkEngine to none, and with them the deploy is the one before the
    engines: the same resources, outputs and ETL variables. Everything the engines add carries one of their
    conditions, so none of it exists while they are off."""
    found = []
    defaults = {name: parameter_default(t, name) for name in ENGINES}
    if defaults != {"WarehouseEngine": "postgres", "SparkEngine": "none"}:
        found.append(f"the engines must default to postgres and none, default to {defaults}")
    d = deployed(t)
    for what, got, wanted in (
        ("resources", set(d["Resources"]), DEFAULT_RESOURCES),
        ("outputs", set(d.get("Outputs", {})), DEFAULT_OUTPUTS),
        ("ETL variables", set(props(d["Resources"][ETL_FUNCTION])["Environment"]["Variables"]), DEFAULT_ETL_VARIABLES),
    ):
        found += [f"the default deploy gains {what} {sorted(got - wanted)}"] if got - wanted else []
        found += [f"the default deploy loses {what} {sorted(wanted - got)}"] if wanted - got else []
    with_engines = deployed(t, **ENGINES)
    for section in ("Resources", "Outputs"):
        added = set(with_engines[section]) - set(d[section])
        found += [
            f"{lid} comes with the engines but is conditioned on {t[section][lid].get('Condition')}"
            for lid in sorted(added)
            if t[section][lid].get("Condition") not in ENGINE_CONDITIONS
        ]
    return found


def private_subnet_violations(d: Template, subnet_id: str | None, where: str) -> list[str]:
    """A subnet of this template, with its own private route table (no route at all but the gateway endpoint's,
    which is not an AWS::EC2::Route), not mapping public IPs, and served by the S3 gateway endpoint."""
    if subnet_id not in resources(d, "AWS::EC2::Subnet"):
        return [f"{where} is in {subnet_id}, not a subnet of this template"]
    table = route_table_of(d, subnet_id)
    found = []
    if table is None or table == route_table_of(d, subnet(d, PUBLIC_CIDR)):
        found.append(f"{where}: subnet {subnet_id} has the route table {table}, not a private one")
    if is_true(props(d["Resources"][subnet_id]).get("MapPublicIpOnLaunch")):
        found.append(f"{where}: subnet {subnet_id} maps public IPs")
    found += [
        f"{where}: subnet {subnet_id}'s route table has the route {lid}"
        for lid, route in resources(d, "AWS::EC2::Route").items()
        if target(props(route).get("RouteTableId")) == table
    ]
    gateways = [
        props(e) for e in resources(d, "AWS::EC2::VPCEndpoint").values() if props(e).get("VpcEndpointType") == "Gateway"
    ]
    if not any(table in {target(r) for r in g.get("RouteTableIds", [])} for g in gateways):
        found.append(f"{where}: subnet {subnet_id}'s route table {table} has no S3 gateway endpoint")
    return found


def redshift_workgroup_is_private(t: Template) -> list[str]:
    """With Redshift Serverless: one namespace and one workgroup, not publicly accessible, with enhanced VPC routing
    (COPY through the S3 gateway endpoint) and TLS required, in private subnets of three Availability Zones only, in
    SG-Redshift only; the admin password managed by Redshift, never in the template. Without it: none of them."""
    found = []
    for values in VARIANTS:
        d, where = deployed(t, **values), variant_name(values)
        workgroups = resources(d, "AWS::RedshiftServerless::Workgroup")
        namespaces = resources(d, "AWS::RedshiftServerless::Namespace")
        wanted = 1 if uses_redshift(values) else 0
        if (len(workgroups), len(namespaces)) != (wanted, wanted):
            found.append(f"{where}: {len(workgroups)} workgroups, {len(namespaces)} namespaces, expected {wanted}")
        for lid, workgroup in workgroups.items():
            p = props(workgroup)
            if p.get("PubliclyAccessible") is not False:
                found.append(f"{where}: {lid} must set PubliclyAccessible: false, has {p.get('PubliclyAccessible')}")
            if not is_true(p.get("EnhancedVpcRouting")):
                found.append(f"{where}: {lid} needs EnhancedVpcRouting (COPY from S3 through the VPC)")
            if p.get("Port", REDSHIFT_PORT) != REDSHIFT_PORT:
                found.append(f"{where}: {lid} listens on {p.get('Port')}, not {REDSHIFT_PORT}")
            settings = {c.get("ParameterKey"): c.get("ParameterValue") for c in p.get("ConfigParameters", [])}
            if str(settings.get("require_ssl")).lower() != "true":
                found.append(f"{where}: {lid} must set require_ssl true")
            subnets = [target(s) for s in p.get("SubnetIds", [])]
            for subnet_id in subnets:
                found += private_subnet_violations(d, subnet_id, f"{where}: {lid}")
            zones = {
                json.dumps(props(d["Resources"][s]).get("AvailabilityZone"))
                for s in subnets
                if s in resources(d, "AWS::EC2::Subnet")
            }
            if len(subnets) < 3 or len(zones) < 3:
                found.append(f"{where}: {lid} needs subnets in three Availability Zones, has {subnets} in {zones}")
            if [target(g) for g in p.get("SecurityGroupIds", [])] != [security_group(d, "SG-Redshift")]:
                found.append(f"{where}: {lid} must use SG-Redshift only, uses {p.get('SecurityGroupIds')}")
            if target(p.get("NamespaceName")) not in namespaces:
                found.append(f"{where}: {lid} must belong to the namespace of this template")
        for lid, namespace in namespaces.items():
            p = props(namespace)
            if not is_true(p.get("ManageAdminPassword")) or "AdminUserPassword" in p:
                found.append(f"{where}: {lid} must have ManageAdminPassword and no AdminUserPassword")
    return found


def redshift_ingress(t: Template) -> list[str]:
    """SG-Redshift admits exactly tcp 5439, from SG-ETL-Lambda and SG-Shiny (the dashboard reads the marts) and from
    nothing else, and both may let 5439 out to it; without Redshift Serverless there is no SG-Redshift."""
    found = []
    for values in VARIANTS:
        d, where = deployed(t, **values), variant_name(values)
        named = [lid for lid, sg in resources(d, "AWS::EC2::SecurityGroup").items() if tag(sg, "Name") == "SG-Redshift"]
        if not uses_redshift(values):
            found += [f"{where}: {lid} exists without Redshift Serverless" for lid in named]
            continue
        redshift = security_group(d, "SG-Redshift")
        allowed = {security_group(d, "SG-ETL-Lambda"), security_group(d, "SG-Shiny")}
        sources = []
        for group, rule in ingress_rules(d):
            if group != redshift:
                continue
            exact = str(rule.get("IpProtocol")) == "tcp" and rule.get("FromPort") == rule.get("ToPort") == REDSHIFT_PORT
            source = target(rule.get("SourceSecurityGroupId"))
            keys = {k for k in ("CidrIp", "CidrIpv6", "SourceSecurityGroupId", "SourcePrefixListId") if k in rule}
            if not exact or keys != {"SourceSecurityGroupId"} or source not in allowed:
                found.append(f"{where}: SG-Redshift admits {rule}: only tcp {REDSHIFT_PORT} from {sorted(allowed)}")
            sources.append(source)
        if sorted(map(str, sources)) != sorted(allowed):
            found.append(f"{where}: SG-Redshift must admit {sorted(allowed)} once each, admits {sources}")
        egress = egress_rules(d)
        found += [
            f"{where}: {group} cannot let {REDSHIFT_PORT} out to SG-Redshift"
            for group in sorted(allowed)
            if not any(
                covers_port(rule, REDSHIFT_PORT) and target(rule.get("DestinationSecurityGroupId")) == redshift
                for rule in egress.get(group, [])
            )
        ]
    return found


def redshift_copy_role(t: Template) -> list[str]:
    """The namespace's only IAM role (and its default) is the COPY role: assumed by Redshift only, no managed policy,
    s3:GetObject on the raw bucket's staging prefix and s3:ListBucket of that prefix only."""
    found = []
    d = deployed(t, **REDSHIFT)
    namespace = only(d, "AWS::RedshiftServerless::Namespace")
    if namespace is None:
        return ["no Redshift Serverless namespace with WarehouseEngine=redshift-serverless"]
    p = props(d["Resources"][namespace])
    role = target(p.get("DefaultIamRoleArn"))
    if role not in resources(d, "AWS::IAM::Role") or p.get("IamRoles") != [getatt(role, "Arn")]:
        return [f"{namespace} must have one role of this template, as its default and only role: {p}"]
    if not trusted_services(d, role) or not trusted_services(d, role) <= REDSHIFT_SERVICES:
        found.append(f"{role} may be assumed by {sorted(trusted_services(d, role))}, not Redshift only")
    if props(d["Resources"][role]).get("ManagedPolicyArns"):
        found.append(f"{role} must have no managed policy")
    bucket = raw_bucket(d)
    granted = set()
    for s in role_statements(d, role):
        granted |= actions(s)
        resources_ = as_list(s.get("Resource"))
        if s.get("Effect") != "Allow" or "NotResource" in s or "NotAction" in s:
            found.append(f"{role} statement {s.get('Sid')} must be a plain Allow")
        elif actions(s) == {"s3:getobject"}:
            if not resources_ or not all(is_prefix_arn(r, bucket, STAGING_PREFIX) for r in resources_):
                found.append(f"{role}: s3:GetObject must be on {STAGING_PREFIX} objects only, is on {resources_}")
        elif actions(s) == {"s3:listbucket"}:
            prefixes = as_list(s.get("Condition", {}).get("StringLike", {}).get("s3:prefix"))
            if resources_ != [getatt(bucket, "Arn")] or prefixes != [f"{STAGING_PREFIX}*"]:
                found.append(f"{role}: s3:ListBucket must be on {bucket} with s3:prefix {STAGING_PREFIX}* only: {s}")
        else:
            found.append(f"{role} statement {s.get('Sid')} grants {sorted(actions(s))}")
    if granted != {"s3:getobject", "s3:listbucket"}:
        found.append(f"{role} grants {sorted(granted)}, expected s3:GetObject and s3:ListBucket")
    return found


def pass_role_only_the_spark_job_role(t: Template) -> list[str]:
    """iam:PassRole is granted once, with EMR Serverless only: to the ETL role, on the Spark job role, for
    emr-serverless.amazonaws.com (no role may pass any other, or pass it to another service)."""
    found = []
    passed = {"StringEquals": {"iam:PassedToService": EMR_SERVICE}}
    for values in VARIANTS:
        d, where, grants = deployed(t, **values), variant_name(values), 0
        etl, job_role = role_of_function(d, ETL_FUNCTION), spark_job_role(d)
        for role in resources(d, "AWS::IAM::Role"):
            for s in role_statements(d, role):
                if s.get("Effect") != "Allow" or not actions(s) & {"iam:passrole", "iam:*", "*"}:
                    continue
                ok = (
                    role == etl
                    and uses_spark(values)
                    and actions(s) == {"iam:passrole"}
                    and as_list(s.get("Resource")) == [getatt(job_role, "Arn")]
                    and s.get("Condition") == passed
                )
                if not ok:
                    found.append(f"{where}: {role} statement {s.get('Sid')} passes roles: {s}")
                grants += ok
        if grants != (1 if uses_spark(values) else 0):
            found.append(f"{where}: the ETL may pass the Spark job role {grants} times")
    return found


def spark_application(t: Template) -> list[str]:
    """With EMR Serverless: one Spark application that starts itself, stops after 15 idle minutes, keeps no
    pre-initialized capacity, is capped by EmrMaxVcpu and EmrMaxMemoryGb, logs to a log group of this template with
    retention, and runs in private subnets in SG-Spark, which admits nothing and lets only HTTPS out. Without it:
    none."""
    found = []
    for values in VARIANTS:
        d, where = deployed(t, **values), variant_name(values)
        applications = resources(d, "AWS::EMRServerless::Application")
        if len(applications) != (1 if uses_spark(values) else 0):
            found.append(f"{where}: {len(applications)} EMR Serverless applications")
        for lid, application in applications.items():
            p = props(application)
            if (p.get("Type"), p.get("ReleaseLabel")) != ("SPARK", {"Ref": "EmrReleaseLabel"}):
                found.append(
                    f"{where}: {lid} must be SPARK of EmrReleaseLabel, is {p.get('Type')} {p.get('ReleaseLabel')}"
                )
            if not is_true(p.get("AutoStartConfiguration", {}).get("Enabled", True)):
                found.append(f"{where}: {lid} must start itself for a job run")
            stop = p.get("AutoStopConfiguration", {})
            if not is_true(stop.get("Enabled")) or stop.get("IdleTimeoutMinutes") != 15:
                found.append(f"{where}: {lid} must stop after 15 idle minutes, has {stop}")
            if "InitialCapacity" in p:
                found.append(f"{where}: {lid} keeps pre-initialized capacity (billed while idle)")
            maximum = p.get("MaximumCapacity", {})
            for key, parameter in (("Cpu", "EmrMaxVcpu"), ("Memory", "EmrMaxMemoryGb")):
                if f"${{{parameter}}}" not in str(sub_text(maximum.get(key))):
                    found.append(f"{where}: {lid} MaximumCapacity.{key} must come from {parameter}, is {maximum}")
                if "MaxValue" not in t.get("Parameters", {}).get(parameter, {}):
                    found.append(f"parameter {parameter} needs a MaxValue (a cost ceiling)")
            logging = p.get("MonitoringConfiguration", {}).get("CloudWatchLoggingConfiguration", {})
            group = target(logging.get("LogGroupName"))
            if not is_true(logging.get("Enabled")) or group not in resources(d, "AWS::Logs::LogGroup"):
                found.append(f"{where}: {lid} must log to a log group of this template, logs to {logging}")
            elif props(d["Resources"][group]).get("RetentionInDays") != {"Ref": "LogRetentionDays"}:
                found.append(f"{where}: {group} must keep its logs LogRetentionDays")
            network = p.get("NetworkConfiguration", {})
            for subnet_id in [target(s) for s in network.get("SubnetIds", [])] or [None]:
                found += private_subnet_violations(d, subnet_id, f"{where}: {lid}")
            spark = security_group(d, "SG-Spark")
            if [target(g) for g in network.get("SecurityGroupIds", [])] != [spark]:
                found.append(f"{where}: {lid} must use SG-Spark only, uses {network.get('SecurityGroupIds')}")
            found += [f"{where}: SG-Spark admits {rule}" for group, rule in ingress_rules(d) if group == spark]
            found += [
                f"{where}: SG-Spark lets out {rule}, only tcp 443"
                for rule in egress_rules(d).get(spark, [])
                if not (str(rule.get("IpProtocol")) == "tcp" and rule.get("FromPort") == rule.get("ToPort") == 443)
            ]
    return found


GLUE_RESOURCES = {  # the Spark jobs' Glue Data Catalog: the catalog and the clickstream_* databases, their tables
    "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:catalog",
    "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:database/clickstream_*",
    "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:table/clickstream_*/*",
    "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:userDefinedFunction/clickstream_*/*",
}
GLUE_DEFAULT_DATABASE = "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:database/default"
LAKE_WRITES = {"s3:putobject", "s3:deleteobject", "s3:abortmultipartupload"}


def spark_job_role_scope(t: Template) -> list[str]:
    """The Spark job role: assumed by EMR Serverless only, no managed policy, nothing on "*"; reads raw objects, reads
    and writes spark-lake/ only, reads job scripts under the artifacts bucket's spark/, lists those prefixes only,
    uses the Glue catalog's clickstream_* databases (and reads the default database, which Spark's Glue client
    looks up), and writes its application's log group."""
    d = deployed(t, **SPARK)
    role = spark_job_role(d)
    if role is None:
        return ["no role for EMR Serverless with SparkEngine=emr-serverless"]
    found = [] if trusted_services(d, role) == {EMR_SERVICE} else [f"{role} trusts {trusted_services(d, role)}"]
    if props(d["Resources"][role]).get("ManagedPolicyArns"):
        found.append(f"{role} must have no managed policy")
    application = only(d, "AWS::EMRServerless::Application")
    logging = props(d["Resources"].get(str(application), {})).get("MonitoringConfiguration", {})
    log_group = target(logging.get("CloudWatchLoggingConfiguration", {}).get("LogGroupName"))
    bucket, artifacts = raw_bucket(d), artifacts_bucket(d)
    for s in role_statements(d, role):
        where, resources_ = f"{role} statement {s.get('Sid')}", as_list(s.get("Resource"))
        if s.get("Effect") != "Allow" or "NotResource" in s or "NotAction" in s or "*" in resources_:
            found.append(f"{where} must be a plain Allow on named resources: {s}")
            continue
        for action in sorted(actions(s)):
            if action == "s3:getobject":
                ok = all(
                    is_raw_object_arn(d, r)
                    or is_prefix_arn(r, bucket, LAKE_PREFIX)
                    or is_prefix_arn(r, artifacts, SPARK_SCRIPTS_PREFIX)
                    for r in resources_
                )
            elif action in LAKE_WRITES:
                ok = all(is_prefix_arn(r, bucket, LAKE_PREFIX) for r in resources_)
            elif action == "s3:listbucket":
                prefixes = as_list(s.get("Condition", {}).get("StringLike", {}).get("s3:prefix"))
                ok = resources_ == [getatt(bucket, "Arn")] and bool(prefixes)
                ok = ok and all(sub_text(x) == "${RawPrefix}*" or x == f"{LAKE_PREFIX}*" for x in prefixes)
            elif action.startswith("glue:"):
                allowed = GLUE_RESOURCES | ({GLUE_DEFAULT_DATABASE} if action == "glue:getdatabase" else set())
                ok = all(sub_text(r) in allowed for r in resources_)
            elif action == "logs:describeloggroups":
                ok = [sub_text(r) for r in resources_] == [
                    "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"
                ]
            elif action in {"logs:createlogstream", "logs:describelogstreams", "logs:putlogevents"}:
                ok = resources_ == [getatt(log_group, "Arn")]
            else:
                ok = False
            if not ok:
                found.append(f"{where}: {action} on {resources_} is outside the Spark jobs' scope")
    return found


def etl_engine_variables(t: Template) -> list[str]:
    """The ETL gets the Redshift settings exactly with Redshift Serverless and the Spark settings exactly with EMR
    Serverless (no password among them); no other function gets any."""
    found = []
    for values in VARIANTS:
        d, where = deployed(t, **values), variant_name(values)
        wanted: dict[str, Any] = {}
        if uses_redshift(values):
            namespace = props(d["Resources"][str(only(d, "AWS::RedshiftServerless::Namespace"))])
            wanted |= dict(
                zip(
                    REDSHIFT_VARIABLES,
                    (
                        {"Ref": "WarehouseEngine"},
                        {"Ref": only(d, "AWS::RedshiftServerless::Workgroup")},
                        {"Ref": "WarehouseDatabaseName"},
                        getatt(target(namespace.get("DefaultIamRoleArn")), "Arn"),
                        STAGING_PREFIX,
                    ),
                    strict=True,
                )
            )
        if uses_spark(values):
            wanted |= dict(
                zip(
                    SPARK_VARIABLES,
                    (
                        getatt(only(d, "AWS::EMRServerless::Application"), "ApplicationId"),
                        getatt(spark_job_role(d), "Arn"),
                        {"Fn::Sub": f"s3://${{{raw_bucket(d)}}}/{LAKE_PREFIX}"},
                    ),
                    strict=True,
                )
            )
        for lid, function in resources(d, "AWS::Serverless::Function").items():
            variables = props(function).get("Environment", {}).get("Variables", {})
            got = {k: v for k, v in variables.items() if k in (*REDSHIFT_VARIABLES, *SPARK_VARIABLES)}
            expected = wanted if lid == ETL_FUNCTION else {}
            found += [
                f"{where}: {lid} {k} is {got.get(k)}, expected {expected.get(k)}"
                for k in sorted(set(got) | set(expected))
                if got.get(k) != expected.get(k)
            ]
            found += [f"{where}: {lid} gets {k}" for k in variables if "REDSHIFT" in k and "PASSWORD" in k]
    return found


def engine_endpoints(t: Template) -> list[str]:
    """The engines' API endpoints (redshift-data and redshift-serverless; emr-serverless, glue and logs) exist exactly
    with their engine, in private subnets, with private DNS, in SG-Endpoints; the ETL function and the Spark
    application are created after the endpoints they call."""
    found = []
    for values in VARIANTS:
        d, where = deployed(t, **values), variant_name(values)
        private, group = {subnet(d, c) for c in PRIVATE_CIDRS}, security_group(d, "SG-Endpoints")
        depends = as_list(d["Resources"][ETL_FUNCTION].get("DependsOn", []))
        handles = json.dumps([d["Resources"].get(str(r), {}) for r in depends])
        application = only(d, "AWS::EMRServerless::Application")
        app_depends = as_list(d["Resources"][application].get("DependsOn", [])) if application else []
        for service, parameters in ENGINE_ENDPOINTS.items():
            name = f"com.amazonaws.${{AWS::Region}}.{service}"
            matches = {
                lid: props(e)
                for lid, e in interface_endpoints(d).items()
                if sub_text(props(e).get("ServiceName")) == name
            }
            wanted = 1 if all(values.get(k) == v for k, v in parameters.items()) else 0
            if len(matches) != wanted:
                found.append(f"{where}: {len(matches)} {service} endpoints, expected {wanted}")
            for lid, p in matches.items():
                subnets = {target(s) for s in p.get("SubnetIds", [])}
                if not subnets or not subnets <= private:
                    found.append(f"{where}: {lid} must be in private subnets only, is in {sorted(map(str, subnets))}")
                if not is_true(p.get("PrivateDnsEnabled")):
                    found.append(f"{where}: {lid} needs PrivateDnsEnabled (the SDKs call the service's usual name)")
                if {target(g) for g in p.get("SecurityGroupIds", [])} != {group}:
                    found.append(f"{where}: {lid} must use SG-Endpoints only, uses {p.get('SecurityGroupIds')}")
                if service in ETL_WAITS_FOR and lid not in depends and json.dumps({"Ref": lid}) not in handles:
                    found.append(f"{where}: {ETL_FUNCTION} does not wait for {lid}")
                if service in ("glue", "logs") and lid not in app_depends:
                    found.append(f"{where}: {application} does not wait for {lid}")
    return found


def engine_writes_through_the_s3_endpoint(t: Template) -> list[str]:
    """The S3 gateway endpoint lets writes through only for the engines: PutObject under redshift-staging/ with
    Redshift Serverless, PutObject, DeleteObject and AbortMultipartUpload under spark-lake/ with EMR Serverless,
    nothing by default; and the raw bucket expires the staging files with Redshift Serverless."""
    found = []
    for values in VARIANTS:
        d, where = deployed(t, **values), variant_name(values)
        bucket = raw_bucket(d)
        (gateway,) = [
            props(e)
            for e in resources(d, "AWS::EC2::VPCEndpoint").values()
            if props(e).get("VpcEndpointType") == "Gateway"
        ]
        writes = []
        for s in as_list(gateway["PolicyDocument"]["Statement"]):
            granted = actions(s) - {"s3:getobject", "s3:listbucket"}
            if s.get("Effect") == "Allow" and granted:
                writes.append(
                    (frozenset(granted), tuple(sub_text(r) or json.dumps(r) for r in as_list(s.get("Resource"))))
                )
        wanted = []
        if uses_redshift(values):
            wanted.append((frozenset({"s3:putobject"}), (f"${{{bucket}.Arn}}/{STAGING_PREFIX}*",)))
        if uses_spark(values):
            wanted.append((frozenset(LAKE_WRITES), (f"${{{bucket}.Arn}}/{LAKE_PREFIX}*",)))
        if sorted(writes, key=str) != sorted(wanted, key=str):
            found.append(f"{where}: the S3 gateway endpoint lets through the writes {writes}, expected {wanted}")
        rules = props(d["Resources"][bucket]).get("LifecycleConfiguration", {}).get("Rules", [])
        expires = [
            r
            for r in rules
            if r.get("Prefix") == STAGING_PREFIX and r.get("Status") == "Enabled" and "ExpirationInDays" in r
        ]
        if len(expires) != (1 if uses_redshift(values) else 0):
            found.append(f"{where}: {len(expires)} rules expire {STAGING_PREFIX} in {bucket}")
    return found


CHECKS: list[Check] = [
    world_ingress_to_ssh_or_postgres,
    any_ssh_ingress,
    warehouse_ingress,
    private_routes,
    public_route,
    nat,
    warehouse_public_ip,
    imdsv1,
    unencrypted_volumes,
    instance_roles,
    functions_without_explicit_roles,
    ingest_role,
    etl_role,
    etl_placement,
    raw_bucket_settings,
    raw_bucket_tls,
    outputs_without_description,
    section_order,
    endpoint_reachability,
    ssm_endpoints,
    s3_gateway_endpoint,
    etl_lambda_ingress,
    shiny_ingress,
    oltp_off_by_default,
    checkov_skips,
    dashboard_reads_marts_only,
    unit_dependencies,
    artifacts_bucket_settings,
    artifacts_bucket_access,
    warehouse_data_volume,
    first_boot_parameters,
    ip_hash_salt,
    etl_over_tls,
    legacy_role_loopback_only,
    legacy_role_read_only,
    legacy_password_from_parameter,
    legacy_missing_parameter_is_not_fatal,
    warehouse_host_parameter_reads,
    etl_anonymises_like_ingest,
    database_default_matches_package,
    legacy_connection_output,
    oltp_postgres_ingress,
    etl_postgres_egress,
    etl_shop_secret_read,
    secrets_manager_endpoint,
    shop_variables,
    shop_password_never_inline,
    shop_database_combinations,
    oltp_admits_the_etl_over_tls,
    alarms_notify_an_encrypted_topic,
    health_alarms,
    default_deploy_unchanged,
    redshift_workgroup_is_private,
    redshift_ingress,
    redshift_copy_role,
    pass_role_only_the_spark_job_role,
    spark_application,
    spark_job_role_scope,
    etl_engine_variables,
    engine_endpoints,
    engine_writes_through_the_s3_endpoint,
]


def test_no_ingress_from_the_internet_to_ssh_or_postgres(template: Template) -> None:
    assert world_ingress_to_ssh_or_postgres(template) == []


def test_no_security_group_opens_ssh_at_all(template: Template) -> None:
    assert any_ssh_ingress(template) == []


def test_warehouse_admits_postgres_only_from_etl_lambda_and_shiny(template: Template) -> None:
    assert warehouse_ingress(template) == []


def test_private_route_tables_have_no_route_to_the_internet(template: Template) -> None:
    assert private_routes(template) == []


def test_public_route_table_routes_to_the_internet_gateway(template: Template) -> None:
    assert public_route(template) == []


def test_no_nat_gateway_and_no_route_through_a_nat(template: Template) -> None:
    assert nat(template) == []


def test_warehouse_host_has_no_public_ip(template: Template) -> None:
    assert warehouse_public_ip(template) == []


def test_every_instance_requires_imdsv2(template: Template) -> None:
    assert imdsv1(template) == []


def test_every_instance_volume_is_encrypted(template: Template) -> None:
    assert unencrypted_volumes(template) == []


def test_instance_profile_roles_have_only_ssm_managed_instance_core_and_the_warehouse_its_parameter_reads(
    template: Template,
) -> None:
    assert instance_roles(template) == []


def test_functions_use_explicit_roles_of_the_template(template: Template) -> None:
    assert functions_without_explicit_roles(template) == []


def test_ingest_role_may_only_put_objects_under_the_raw_prefix(template: Template) -> None:
    assert ingest_role(template) == []


def test_etl_role_has_exactly_the_minimal_actions(template: Template) -> None:
    assert etl_role(template) == []


def test_etl_function_runs_in_the_etl_subnet_with_reserved_concurrency_1(template: Template) -> None:
    assert etl_placement(template) == []


def test_raw_bucket_blocks_public_access_is_versioned_encrypted_and_ages_out(template: Template) -> None:
    assert raw_bucket_settings(template) == []


def test_raw_bucket_policy_denies_requests_without_tls(template: Template) -> None:
    assert raw_bucket_tls(template) == []


def test_every_output_has_a_description(template: Template) -> None:
    assert outputs_without_description(template) == []


def test_sections_are_parameters_globals_resources_outputs(template: Template) -> None:
    assert section_order(template) == []


def test_every_host_and_the_etl_reach_the_interface_endpoints_with_or_without_the_oltp_host(
    template: Template,
) -> None:
    assert endpoint_reachability(template) == []


def test_ssm_ssmmessages_and_ec2messages_endpoints_are_in_a_private_subnet(template: Template) -> None:
    assert ssm_endpoints(template) == []


def test_s3_gateway_endpoint_serves_both_private_route_tables_and_this_accounts_buckets(template: Template) -> None:
    assert s3_gateway_endpoint(template) == []


def test_etl_lambda_security_group_has_no_inbound_rule(template: Template) -> None:
    assert etl_lambda_ingress(template) == []


def test_shiny_admits_only_the_dashboard_port_from_admin_cidr_which_defaults_to_no_other_subnet(
    template: Template,
) -> None:
    assert shiny_ingress(template) == []


def test_oltp_host_is_off_by_default(template: Template) -> None:
    assert oltp_off_by_default(template) == []


def test_every_checkov_skip_says_why(template: Template) -> None:
    assert checkov_skips(template) == []


def test_dashboard_role_reads_schema_marts_only(template: Template) -> None:
    assert dashboard_reads_marts_only(template) == []


def test_systemd_units_want_what_they_are_ordered_after(template: Template) -> None:
    assert unit_dependencies(template) == []


def test_artifacts_bucket_blocks_public_access_is_versioned_encrypted_and_tls_only(template: Template) -> None:
    assert artifacts_bucket_settings(template) == []


def test_artifacts_bucket_grants_only_the_warehouse_role_getobject_on_the_dashboard_prefix(
    template: Template,
) -> None:
    assert artifacts_bucket_access(template) == []
    assert instance_roles(template) == [], "the warehouse role keeps only the SSM core policy: the bucket grants"


def test_warehouse_data_is_on_an_encrypted_volume_kept_when_the_host_goes(template: Template) -> None:
    assert warehouse_data_volume(template) == []


def test_parameters_baked_into_the_user_data_say_first_boot_only(template: Template) -> None:
    assert first_boot_parameters(template) == []


def test_ip_hash_salt_is_empty_or_at_least_16_characters(template: Template) -> None:
    assert ip_hash_salt(template) == []


def test_etl_reaches_the_warehouse_over_tls_only(template: Template) -> None:
    assert etl_over_tls(template) == []


def test_legacy_dashboard_role_is_admitted_on_the_loopback_interface_only(template: Template) -> None:
    assert legacy_role_loopback_only(template) == []


def test_legacy_dashboard_role_is_read_only_with_a_timeout_and_reads_the_public_view_and_marts(
    template: Template,
) -> None:
    assert legacy_role_read_only(template) == []


def test_legacy_dashboard_password_comes_from_the_named_parameter_never_inline(template: Template) -> None:
    assert legacy_password_from_parameter(template) == []


def test_a_missing_legacy_dashboard_parameter_leaves_the_role_without_login_and_boots_on(template: Template) -> None:
    assert legacy_missing_parameter_is_not_fatal(template) == []


def test_warehouse_host_reads_exactly_its_two_password_parameters(template: Template) -> None:
    assert warehouse_host_parameter_reads(template) == []


def test_etl_anonymises_ips_with_the_collectors_mode_and_salt(template: Template) -> None:
    assert etl_anonymises_like_ingest(template) == []


def test_database_default_is_the_old_dashboards_and_matches_make_package(template: Template) -> None:
    assert database_default_matches_package(template) == []


def test_legacy_dashboard_connection_output_names_the_five_settings(template: Template) -> None:
    assert legacy_connection_output(template) == []


def test_oltp_host_admits_postgres_only_from_the_etl_and_oltp_ingress_cidr(template: Template) -> None:
    assert oltp_postgres_ingress(template) == []


def test_etl_lets_postgres_out_only_to_the_warehouse_subnet_the_oltp_host_and_shop_database_cidr(
    template: Template,
) -> None:
    assert etl_postgres_egress(template) == []


def test_etl_reads_only_the_shop_database_secret_and_only_with_a_shop_database(template: Template) -> None:
    assert etl_shop_secret_read(template) == []


def test_secrets_manager_endpoint_exists_exactly_with_a_shop_database_in_a_private_subnet(template: Template) -> None:
    assert secrets_manager_endpoint(template) == []


def test_shop_settings_reach_the_etl_only_with_a_shop_database_and_require_tls(template: Template) -> None:
    assert shop_variables(template) == []


def test_shop_database_password_is_never_in_the_template(template: Template) -> None:
    assert shop_password_never_inline(template) == []


def test_rules_refuse_a_shop_database_the_etl_could_not_reach(template: Template) -> None:
    assert shop_database_combinations(template) == []


def test_every_alarm_notifies_one_topic_encrypted_with_a_key_cloudwatch_may_use(template: Template) -> None:
    assert alarms_notify_an_encrypted_topic(template) == []


def test_health_metrics_etl_duration_and_ingest_errors_have_alarms(template: Template) -> None:
    assert health_alarms(template) == []


def test_oltp_host_admits_the_etl_subnet_over_tls_with_scram(template: Template) -> None:
    assert oltp_admits_the_etl_over_tls(template) == []


def test_the_default_engines_deploy_exactly_what_was_deployed_before(template: Template) -> None:
    assert default_deploy_unchanged(template) == []


def test_redshift_workgroup_is_not_public_and_lives_in_private_subnets_of_three_zones(template: Template) -> None:
    assert redshift_workgroup_is_private(template) == []


def test_redshift_admits_5439_only_from_the_etl_and_the_dashboard(template: Template) -> None:
    assert redshift_ingress(template) == []


def test_redshift_copy_role_reads_only_the_staging_prefix(template: Template) -> None:
    assert redshift_copy_role(template) == []


def test_the_etl_passes_only_the_spark_job_role_to_emr_serverless(template: Template) -> None:
    assert pass_role_only_the_spark_job_role(template) == []


def test_spark_application_stops_when_idle_has_a_maximum_capacity_and_admits_nothing(template: Template) -> None:
    assert spark_application(template) == []


def test_spark_job_role_reaches_only_the_raw_prefix_the_lake_and_clickstream_glue_databases(
    template: Template,
) -> None:
    assert spark_job_role_scope(template) == []


def test_engine_settings_reach_the_etl_only_with_their_engine(template: Template) -> None:
    assert etl_engine_variables(template) == []


def test_engine_api_endpoints_exist_exactly_with_their_engine_in_private_subnets(template: Template) -> None:
    assert engine_endpoints(template) == []


def test_the_s3_endpoint_lets_writes_through_only_for_the_engines_prefixes(template: Template) -> None:
    assert engine_writes_through_the_s3_endpoint(template) == []


# ---------------------------------------------------------------- the checks notice a broken template


def _add_ingress(group_name: str, rule: dict[str, Any]) -> Callable[[Template], None]:
    def mutate(t: Template) -> None:
        t["Resources"][security_group(t, group_name)]["Properties"].setdefault("SecurityGroupIngress", []).append(rule)

    return mutate


def _add_resource(name: str, resource: dict[str, Any]) -> Callable[[Template], None]:
    def mutate(t: Template) -> None:
        t["Resources"][name] = resource

    return mutate


def _set(path: str, value: Any) -> Callable[[Template], None]:
    """Set (or, with value None, delete) a dotted path; list indexes are numbers."""

    def mutate(t: Template) -> None:
        *parents, last = path.split(".")
        node: Any = t
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is None:
            del node[int(last) if isinstance(node, list) else last]
        else:
            node[int(last) if isinstance(node, list) else last] = value

    return mutate


def _append_action(function: str, sid: str, action: str) -> Callable[[Template], None]:
    def mutate(t: Template) -> None:
        role = role_of_function(t, function)
        for s in role_statements(t, role):
            if s.get("Sid") == sid:
                s["Action"] = [*as_list(s["Action"]), action]

    return mutate


def _statement(function: str, sid: str, key: str, value: Any) -> Callable[[Template], None]:
    def mutate(t: Template) -> None:
        role = role_of_function(t, function)
        for s in role_statements(t, role):
            if s.get("Sid") == sid:
                if value is None:
                    del s[key]
                else:
                    s[key] = value

    return mutate


def _append_managed_policy(role: str, policy: str) -> Callable[[Template], None]:
    def mutate(t: Template) -> None:
        t["Resources"][role]["Properties"].setdefault("ManagedPolicyArns", []).append(
            f"arn:aws:iam::aws:policy/{policy}"
        )

    return mutate


def _append(path: str, value: Any) -> Callable[[Template], None]:
    """Append to the list at a dotted path."""

    def mutate(t: Template) -> None:
        node: Any = t
        for key in path.split("."):
            node = node[int(key)] if isinstance(node, list) else node[key]
        node.append(value)

    return mutate


def _user_data(old: str, new: str, instance: str | None = None) -> Callable[[Template], None]:
    """Replace text in a host's user data, the warehouse's unless ``instance`` is given (which must contain it, or
    the break would break nothing)."""

    def mutate(t: Template) -> None:
        data = t["Resources"][instance or warehouse_instance(t)]["Properties"]["UserData"]["Fn::Base64"]
        assert old in data["Fn::Sub"], f"the break expects {old!r} in the user data"
        data["Fn::Sub"] = data["Fn::Sub"].replace(old, new)

    return mutate


def _shop_secret_statements(t: Template) -> tuple[list[Any], int]:
    """The ETL role's statement list and the index of the Fn::If holding its shop secret statement."""
    role = role_of_function(t, ETL_FUNCTION)
    statements = props(t["Resources"][role])["Policies"][0]["PolicyDocument"]["Statement"]
    (index,) = [
        i
        for i, s in enumerate(statements)
        if isinstance(s, dict) and "Fn::If" in s and s["Fn::If"][1].get("Sid") == "ReadShopDatabaseSecret"
    ]
    return statements, index


def _shop_secret(key: str, value: Any) -> Callable[[Template], None]:
    def mutate(t: Template) -> None:
        statements, index = _shop_secret_statements(t)
        statements[index]["Fn::If"][1][key] = value

    return mutate


def _shop_secret_unconditional(t: Template) -> None:
    statements, index = _shop_secret_statements(t)
    statements[index] = statements[index]["Fn::If"][1]


def _shop_secret_removed(t: Template) -> None:
    statements, index = _shop_secret_statements(t)
    del statements[index]


def _if_statement(t: Template, path: str, sid: str) -> tuple[list[Any], int]:
    """The statement list at a dotted path and the index of the Fn::If whose statement has this Sid."""
    node: Any = t
    for key in path.split("."):
        node = node[int(key)] if isinstance(node, list) else node[key]
    (index,) = [
        i for i, s in enumerate(node) if isinstance(s, dict) and "Fn::If" in s and s["Fn::If"][1].get("Sid") == sid
    ]
    return node, index


def _in_if(path: str, sid: str, key: str, value: Any) -> Callable[[Template], None]:
    """Set (or, with value None, delete) a key of a conditional statement."""

    def mutate(t: Template) -> None:
        statements, index = _if_statement(t, path, sid)
        branch = statements[index]["Fn::If"][1]
        if value is None:
            del branch[key]
        else:
            branch[key] = value

    return mutate


def _unwrap_if(path: str, sid: str) -> Callable[[Template], None]:
    """Make a conditional statement unconditional."""

    def mutate(t: Template) -> None:
        statements, index = _if_statement(t, path, sid)
        statements[index] = statements[index]["Fn::If"][1]

    return mutate


def _move_outputs_before_resources(t: Template) -> None:
    outputs = t.pop("Outputs")
    resources_ = t.pop("Resources")
    t["Outputs"], t["Resources"] = outputs, resources_


WORLD_POSTGRES = {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "CidrIp": "0.0.0.0/0"}
ALL_TRAFFIC_IPV6 = {"IpProtocol": "-1", "CidrIpv6": "::/0"}
WIDE_RANGE = {"IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535, "CidrIp": "0.0.0.0/0"}
SSH_FROM_VPC = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "10.0.0.0/16"}
STANDALONE_WORLD_INGRESS = {
    "Type": "AWS::EC2::SecurityGroupIngress",
    "Properties": {"GroupId": {"Fn::GetAtt": ["ShinySecurityGroup", "GroupId"]}, **ALL_TRAFFIC_IPV6},
}
STANDALONE_DW_INGRESS = {
    "Type": "AWS::EC2::SecurityGroupIngress",
    "Properties": {
        "GroupId": {"Ref": "WarehouseSecurityGroup"},
        "IpProtocol": "tcp",
        "FromPort": 5432,
        "ToPort": 5432,
        "SourceSecurityGroupId": {"Ref": "EndpointSecurityGroup"},
    },
}
ROUTE_TO_IGW = {
    "Type": "AWS::EC2::Route",
    "Properties": {
        "RouteTableId": {"Ref": "EtlRouteTable"},
        "DestinationCidrBlock": "0.0.0.0/0",
        "GatewayId": {"Ref": "InternetGateway"},
    },
}
NAT_GATEWAY = {"Type": "AWS::EC2::NatGateway", "Properties": {"SubnetId": {"Ref": "PublicSubnet"}}}
EXTRA_HOST_POLICY = {
    "Type": "AWS::IAM::Policy",
    "Properties": {
        "PolicyName": "extra",
        "Roles": [{"Ref": "WarehouseHostRole"}],
        "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]},
    },
}
STANDALONE_ETL_INGRESS = {
    "Type": "AWS::EC2::SecurityGroupIngress",
    "Properties": {
        "GroupId": {"Fn::GetAtt": ["EtlLambdaSecurityGroup", "GroupId"]},
        "IpProtocol": "tcp",
        "FromPort": 443,
        "ToPort": 443,
        "SourceSecurityGroupId": {"Fn::GetAtt": ["ShinySecurityGroup", "GroupId"]},
    },
}
POSTGRES_FROM_ADMIN = {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "CidrIp": {"Ref": "AdminCidr"}}
DASHBOARD_FROM_VPC = {"IpProtocol": "tcp", "FromPort": 8050, "ToPort": 8050, "CidrIp": "10.0.0.0/16"}
LIST_ARTIFACTS = {
    "Effect": "Allow",
    "Principal": {"AWS": {"Fn::GetAtt": ["WarehouseHostRole", "Arn"]}},
    "Action": "s3:ListBucket",
    "Resource": {"Fn::GetAtt": ["ArtifactsBucket", "Arn"]},
}
WH = "Resources.WarehouseInstance.Properties"
HOST_STATEMENTS = "Resources.WarehouseHostRole.Properties.Policies.0.PolicyDocument.Statement"
ETL_VARIABLES = f"Resources.{ETL_FUNCTION}.Properties.Environment.Variables"
HOST_READS_BY_PATH_AND_S3 = {
    "Effect": "Allow",
    "Action": ["ssm:GetParametersByPath", "s3:GetObject"],
    "Resource": "*",
}
OLTP = "Resources.OltpInstance.Properties"
DATA = f"{WH}.BlockDeviceMappings.1.Ebs"
S3_ENDPOINT_READS = "Resources.S3GatewayEndpoint.Properties.PolicyDocument.Statement.0"
ARTIFACTS_POLICY = "Resources.ArtifactsBucketPolicy.Properties.PolicyDocument.Statement"
OLTP_FROM_SHINY = {
    "Type": "AWS::EC2::SecurityGroupIngress",
    "Condition": "CreateOltp",
    "Properties": {
        "GroupId": {"Fn::GetAtt": ["OltpSecurityGroup", "GroupId"]},
        "IpProtocol": "tcp",
        "FromPort": 5432,
        "ToPort": 5432,
        "SourceSecurityGroupId": {"Fn::GetAtt": ["ShinySecurityGroup", "GroupId"]},
    },
}
DW_TO_OLTP = {
    "Type": "AWS::EC2::SecurityGroupEgress",
    "Condition": "CreateOltp",
    "Properties": {
        "GroupId": {"Fn::GetAtt": ["WarehouseSecurityGroup", "GroupId"]},
        "IpProtocol": "tcp",
        "FromPort": 5432,
        "ToPort": 5432,
        "DestinationSecurityGroupId": {"Fn::GetAtt": ["OltpSecurityGroup", "GroupId"]},
    },
}
HOST_READS_THE_SHOP_SECRET = {
    "Effect": "Allow",
    "Action": "secretsmanager:GetSecretValue",
    "Resource": {"Ref": "ShopDatabaseSecretArn"},
}
ETL_EGRESS = "Resources.EtlLambdaSecurityGroup.Properties.SecurityGroupEgress"
SHOP_EGRESS = "Resources.EtlEgressToShopDatabase"
OLTP_HBA_ETL = "hostssl all   all   10.0.3.0/24   scram-sha-256"
DEFAULT_PRIVILEGES = (
    'alter default privileges for role :"etl_user" in schema marts grant select on tables to clickstream_dashboard;\n'
)
ETL_STATEMENTS = f"Resources.{ETL_FUNCTION}Role.Properties.Policies.0.PolicyDocument.Statement"
S3_ENDPOINT_STATEMENTS = "Resources.S3GatewayEndpoint.Properties.PolicyDocument.Statement"
COPY = "Resources.RedshiftCopyRole.Properties.Policies.0.PolicyDocument.Statement"
JOB = "Resources.SparkJobRole.Properties.Policies.0.PolicyDocument.Statement"
WG = "Resources.RedshiftWorkgroup.Properties"
APP = "Resources.SparkApplication.Properties"
REDSHIFT_FROM_THE_VPC = {"IpProtocol": "tcp", "FromPort": 5439, "ToPort": 5439, "CidrIp": "10.0.0.0/16"}
REDSHIFT_FROM_ENDPOINTS = {
    "Type": "AWS::EC2::SecurityGroupIngress",
    "Condition": "UseRedshiftServerless",
    "Properties": {
        "GroupId": {"Fn::GetAtt": ["RedshiftSecurityGroup", "GroupId"]},
        "IpProtocol": "tcp",
        "FromPort": 5439,
        "ToPort": 5439,
        "SourceSecurityGroupId": {"Fn::GetAtt": ["EndpointSecurityGroup", "GroupId"]},
    },
}
GLUE_EVERY_DATABASE = {"Fn::Sub": "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:database/*"}

BREAKS: list[tuple[str, Check, Callable[[Template], None]]] = [
    ("postgres-open-to-world", world_ingress_to_ssh_or_postgres, _add_ingress("SG-Shiny", WORLD_POSTGRES)),
    ("all-traffic-from-ipv6-world", world_ingress_to_ssh_or_postgres, _add_resource("Open", STANDALONE_WORLD_INGRESS)),
    ("wide-port-range-from-world", world_ingress_to_ssh_or_postgres, _add_ingress("SG-ETL-Lambda", WIDE_RANGE)),
    (
        "oltp-cidr-unconstrained",
        world_ingress_to_ssh_or_postgres,
        _set("Parameters.OltpIngressCidr.AllowedPattern", None),
    ),
    (
        "oltp-cidr-default-world",
        world_ingress_to_ssh_or_postgres,
        _set("Parameters.OltpIngressCidr.Default", "0.0.0.0/0"),
    ),
    ("ssh-from-the-vpc", any_ssh_ingress, _add_ingress("SG-OLTP", SSH_FROM_VPC)),
    ("dw-open-to-a-cidr", warehouse_ingress, _add_ingress("SG-DW", {**SSH_FROM_VPC, "FromPort": 5432, "ToPort": 5432})),
    ("dw-open-to-another-group", warehouse_ingress, _add_resource("DwFromEndpoints", STANDALONE_DW_INGRESS)),
    (
        "dw-without-shiny",
        warehouse_ingress,
        _set("Resources.WarehouseSecurityGroup.Properties.SecurityGroupIngress.1", None),
    ),
    ("private-route-to-igw", private_routes, _add_resource("EtlOut", ROUTE_TO_IGW)),
    (
        "private-subnet-maps-public-ips",
        private_routes,
        _set("Resources.AnalyticsSubnet.Properties.MapPublicIpOnLaunch", True),
    ),
    ("no-public-route", public_route, _set("Resources.PublicDefaultRoute", None)),
    ("nat-gateway", nat, _add_resource("Nat", NAT_GATEWAY)),
    ("warehouse-public-ip", warehouse_public_ip, _set(f"{WH}.NetworkInterfaces.0.AssociatePublicIpAddress", True)),
    ("warehouse-imdsv1", imdsv1, _set(f"{WH}.MetadataOptions.HttpTokens", "optional")),
    ("oltp-without-metadata-options", imdsv1, _set(f"{OLTP}.MetadataOptions", None)),
    ("warehouse-plain-volume", unencrypted_volumes, _set(f"{WH}.BlockDeviceMappings.0.Ebs.Encrypted", False)),
    ("oltp-unmapped-root-volume", unencrypted_volumes, _set(f"{OLTP}.BlockDeviceMappings", None)),
    (
        "host-role-extra-managed-policy",
        instance_roles,
        _append_managed_policy("WarehouseHostRole", "AmazonS3ReadOnlyAccess"),
    ),
    (
        "oltp-role-extra-managed-policy",
        instance_roles,
        _append_managed_policy("OltpHostRole", "AmazonS3ReadOnlyAccess"),
    ),
    ("host-role-extra-policy", instance_roles, _add_resource("HostExtra", EXTRA_HOST_POLICY)),
    (
        "function-with-sam-policies",
        functions_without_explicit_roles,
        _set(f"Resources.{ETL_FUNCTION}.Properties.Policies", ["AWSLambdaExecute"]),
    ),
    ("ingest-may-read", ingest_role, _append_action(INGEST_FUNCTION, "WriteRawObjects", "s3:GetObject")),
    (
        "ingest-writes-whole-bucket",
        ingest_role,
        _statement(INGEST_FUNCTION, "WriteRawObjects", "Resource", {"Fn::Sub": "${RawBucket.Arn}/*"}),
    ),
    ("ingest-logs-anywhere", ingest_role, _statement(INGEST_FUNCTION, "Logs", "Resource", "*")),
    ("etl-may-write", etl_role, _append_action(ETL_FUNCTION, "ReadRawObjects", "s3:PutObject")),
    ("etl-reads-every-parameter", etl_role, _statement(ETL_FUNCTION, "ReadWarehousePassword", "Resource", "*")),
    ("etl-lists-whole-bucket", etl_role, _statement(ETL_FUNCTION, "ListRawPrefix", "Condition", None)),
    ("etl-extra-action-on-star", etl_role, _append_action(ETL_FUNCTION, "VpcNetworkInterfaces", "ec2:RunInstances")),
    ("etl-two-at-once", etl_placement, _set(f"Resources.{ETL_FUNCTION}.Properties.ReservedConcurrentExecutions", 2)),
    (
        "etl-in-analytics-subnet",
        etl_placement,
        _set(f"Resources.{ETL_FUNCTION}.Properties.VpcConfig.SubnetIds", [{"Ref": "AnalyticsSubnet"}]),
    ),
    (
        "bucket-unversioned",
        raw_bucket_settings,
        _set("Resources.RawBucket.Properties.VersioningConfiguration.Status", "Suspended"),
    ),
    (
        "bucket-public-policy-allowed",
        raw_bucket_settings,
        _set("Resources.RawBucket.Properties.PublicAccessBlockConfiguration.BlockPublicPolicy", False),
    ),
    ("bucket-unencrypted", raw_bucket_settings, _set("Resources.RawBucket.Properties.BucketEncryption", None)),
    ("bucket-without-tls-policy", raw_bucket_tls, _set("Resources.RawBucketPolicy", None)),
    (
        "bucket-tls-policy-inverted",
        raw_bucket_tls,
        _set(
            "Resources.RawBucketPolicy.Properties.PolicyDocument.Statement.0.Condition.Bool.aws:SecureTransport", "true"
        ),
    ),
    ("output-without-description", outputs_without_description, _set("Outputs.RawBucketName.Description", None)),
    ("outputs-before-resources", section_order, _move_outputs_before_resources),
    ("oltp-not-admitted-by-endpoints", endpoint_reachability, _set("Resources.EndpointIngressFromOltp", None)),
    (
        "analytics-not-admitted-by-endpoints",
        endpoint_reachability,
        _set("Resources.EndpointSecurityGroup.Properties.SecurityGroupIngress.0", None),
    ),
    (
        "warehouse-without-https-out",
        endpoint_reachability,
        _set(
            "Resources.WarehouseSecurityGroup.Properties.SecurityGroupEgress",
            [{**POSTGRES_FROM_ADMIN, "CidrIp": ETL_CIDR}],
        ),
    ),
    ("ec2messages-endpoint-missing", ssm_endpoints, _set("Resources.Ec2MessagesEndpoint", None)),
    (
        "ssm-endpoint-in-public-subnet",
        ssm_endpoints,
        _set("Resources.SsmEndpoint.Properties.SubnetIds", [{"Ref": "PublicSubnet"}]),
    ),
    (
        "ssmmessages-endpoint-without-private-dns",
        ssm_endpoints,
        _set("Resources.SsmMessagesEndpoint.Properties.PrivateDnsEnabled", False),
    ),
    (
        "s3-endpoint-not-on-etl-route-table",
        s3_gateway_endpoint,
        _set("Resources.S3GatewayEndpoint.Properties.RouteTableIds", [{"Ref": "AnalyticsRouteTable"}]),
    ),
    ("s3-endpoint-lists-only", s3_gateway_endpoint, _set(f"{S3_ENDPOINT_READS}.Action", "s3:ListBucket")),
    (
        "s3-endpoint-another-account",
        s3_gateway_endpoint,
        _set(f"{S3_ENDPOINT_READS}.Condition.StringEquals.aws:ResourceAccount", "111122223333"),
    ),
    ("etl-lambda-inbound-from-shiny", etl_lambda_ingress, _add_resource("EtlIn", STANDALONE_ETL_INGRESS)),
    ("etl-lambda-inbound-inline", etl_lambda_ingress, _add_ingress("SG-ETL-Lambda", WIDE_RANGE)),
    ("shiny-postgres-from-admin", shiny_ingress, _add_ingress("SG-Shiny", POSTGRES_FROM_ADMIN)),
    ("shiny-dashboard-from-the-vpc", shiny_ingress, _add_ingress("SG-Shiny", DASHBOARD_FROM_VPC)),
    ("admin-cidr-default-vpc", shiny_ingress, _set("Parameters.AdminCidr.Default", "10.0.0.0/16")),
    ("shiny-without-rules", shiny_ingress, _set("Resources.ShinySecurityGroup.Properties.SecurityGroupIngress", [])),
    ("oltp-on-by-default", oltp_off_by_default, _set("Parameters.DeployOltpInstance.Default", "true")),
    ("oltp-unconditional", oltp_off_by_default, _set("Resources.OltpInstance.Condition", None)),
    ("checkov-skip-blank-comment", checkov_skips, _set("Resources.EtlLogGroup.Metadata.checkov.skip.0.comment", " ")),
    (
        "checkov-skip-without-comment",
        checkov_skips,
        _set("Resources.IngestFunction.Metadata.checkov.skip.2.comment", None),
    ),
    (
        "dashboard-reads-all-data",
        dashboard_reads_marts_only,
        _user_data(
            "grant usage on schema marts to clickstream_dashboard;", "grant pg_read_all_data to clickstream_dashboard;"
        ),
    ),
    (
        "dashboard-reads-raw",
        dashboard_reads_marts_only,
        _user_data(
            "grant usage on schema marts to clickstream_dashboard;",
            "grant usage on schema marts to clickstream_dashboard;\ngrant usage on schema raw to clickstream_dashboard;",
        ),
    ),
    ("dashboard-loses-rebuilt-tables", dashboard_reads_marts_only, _user_data(DEFAULT_PRIVILEGES, "")),
    (
        "dashboard-may-write",
        dashboard_reads_marts_only,
        _user_data("alter role clickstream_dashboard set default_transaction_read_only = on;\n", ""),
    ),
    (
        "unit-after-network-without-wants",
        unit_dependencies,
        _user_data("Wants=network-online.target postgresql.service", "Wants=postgresql.service"),
    ),
    (
        "artifacts-unversioned",
        artifacts_bucket_settings,
        _set("Resources.ArtifactsBucket.Properties.VersioningConfiguration.Status", "Suspended"),
    ),
    (
        "artifacts-acls-enabled",
        artifacts_bucket_settings,
        _set("Resources.ArtifactsBucket.Properties.OwnershipControls", None),
    ),
    (
        "artifacts-public-policy-allowed",
        artifacts_bucket_settings,
        _set("Resources.ArtifactsBucket.Properties.PublicAccessBlockConfiguration.BlockPublicPolicy", False),
    ),
    (
        "artifacts-unencrypted",
        artifacts_bucket_settings,
        _set("Resources.ArtifactsBucket.Properties.BucketEncryption", None),
    ),
    ("artifacts-without-tls-deny", artifacts_bucket_settings, _set(f"{ARTIFACTS_POLICY}.0", None)),
    (
        "artifacts-role-may-write",
        artifacts_bucket_access,
        _set(f"{ARTIFACTS_POLICY}.1.Action", ["s3:GetObject", "s3:PutObject"]),
    ),
    (
        "artifacts-whole-bucket",
        artifacts_bucket_access,
        _set(f"{ARTIFACTS_POLICY}.1.Resource", {"Fn::Sub": "${ArtifactsBucket.Arn}/*"}),
    ),
    ("artifacts-to-everyone", artifacts_bucket_access, _set(f"{ARTIFACTS_POLICY}.1.Principal", "*")),
    (
        "artifacts-to-the-oltp-role",
        artifacts_bucket_access,
        _set(f"{ARTIFACTS_POLICY}.1.Principal", {"AWS": {"Fn::GetAtt": ["OltpHostRole", "Arn"]}}),
    ),
    ("artifacts-also-listable", artifacts_bucket_access, _append(ARTIFACTS_POLICY, LIST_ARTIFACTS)),
    ("artifacts-not-granted", artifacts_bucket_access, _set(f"{ARTIFACTS_POLICY}.1", None)),
    (
        "artifacts-downloaded-from-elsewhere",
        artifacts_bucket_access,
        _user_data("s3://${ArtifactsBucket}/dashboard/", "s3://${ArtifactsBucket}/"),
    ),
    ("data-volume-deleted-with-the-host", warehouse_data_volume, _set(f"{DATA}.DeleteOnTermination", True)),
    ("data-volume-deleted-by-default", warehouse_data_volume, _set(f"{DATA}.DeleteOnTermination", None)),
    ("data-volume-plain", warehouse_data_volume, _set(f"{DATA}.Encrypted", False)),
    ("data-volume-missing", warehouse_data_volume, _set(f"{WH}.BlockDeviceMappings.1", None)),
    (
        "data-volume-mount-without-nofail",
        warehouse_data_volume,
        _user_data("xfs defaults,nofail 0 2", "xfs defaults 0 2"),
    ),
    ("data-volume-always-formatted", warehouse_data_volume, _user_data("blkid -p $DATA_DEVICE", "true")),
    (
        "etl-user-without-first-boot-note",
        first_boot_parameters,
        _set("Parameters.WarehouseEtlUser.Description", "Warehouse role the ETL logs in as (DW_PG_USER)."),
    ),
    (
        "legacy-from-the-etl-subnet",
        legacy_role_loopback_only,
        _user_data("clickstream_legacy 127.0.0.1/32", "clickstream_legacy 10.0.3.0/24"),
    ),
    (
        "legacy-on-the-etl-line",
        legacy_role_loopback_only,
        _user_data("${WarehouseEtlUser} 10.0.3.0/24", "${WarehouseEtlUser},clickstream_legacy 10.0.3.0/24"),
    ),
    (
        "everyone-from-the-vpc",
        legacy_role_loopback_only,
        _user_data(
            "local   all   postgres   peer", "local   all   postgres   peer\nhost all all 10.0.0.0/16 scram-sha-256"
        ),
    ),
    (
        "legacy-trusted",
        legacy_role_loopback_only,
        _user_data("clickstream_legacy ::1/128 scram-sha-256", "clickstream_legacy ::1/128 trust"),
    ),
    (
        "legacy-not-admitted",
        legacy_role_loopback_only,
        _user_data("host ${WarehouseDatabaseName} clickstream_legacy ::1/128 scram-sha-256\n", ""),
    ),
    (
        "legacy-may-write",
        legacy_role_read_only,
        _user_data("alter role clickstream_legacy set default_transaction_read_only = on;\n", ""),
    ),
    (
        "legacy-without-timeout",
        legacy_role_read_only,
        _user_data("alter role clickstream_legacy set statement_timeout = '30s';\n", ""),
    ),
    (
        "legacy-hour-long-queries",
        legacy_role_read_only,
        _user_data("statement_timeout = '30s'", "statement_timeout = '3600s'"),
    ),
    ("legacy-unlimited-connections", legacy_role_read_only, _user_data("connection limit 5", "connection limit -1")),
    ("legacy-superuser", legacy_role_read_only, _user_data("with login password", "with login superuser password")),
    (
        "legacy-reads-staging",
        legacy_role_read_only,
        _user_data(
            "grant usage on schema marts to clickstream_legacy;",
            "grant usage on schema marts to clickstream_legacy;\ngrant usage on schema staging to clickstream_legacy;",
        ),
    ),
    (
        "legacy-reads-all-data",
        legacy_role_read_only,
        _user_data(
            "grant usage on schema public to clickstream_legacy;", "grant pg_read_all_data to clickstream_legacy;"
        ),
    ),
    (
        "legacy-loses-the-rebuilt-view",
        legacy_role_read_only,
        _user_data(
            'alter default privileges for role :"etl_user" in schema public grant select on tables to clickstream_legacy;\n',
            "",
        ),
    ),
    (
        "legacy-inline-password",
        legacy_password_from_parameter,
        _user_data("password :'legacy_password'", "password 'hunter2'"),
    ),
    (
        "legacy-password-from-the-etl-parameter",
        legacy_password_from_parameter,
        _user_data('--name "$CLICKSTREAM_LEGACY_PASSWORD_PARAM"', '--name "$CLICKSTREAM_ETL_PASSWORD_PARAM"'),
    ),
    (
        "legacy-parameter-name-hard-coded",
        legacy_password_from_parameter,
        _user_data("=${LegacyDashboardPasswordParameterName}", "=/clickstream/dw/legacy-dashboard-password"),
    ),
    (
        "legacy-parameter-missing",
        legacy_password_from_parameter,
        _set("Parameters.LegacyDashboardPasswordParameterName", None),
    ),
    (
        "legacy-password-as-a-parameter",
        legacy_password_from_parameter,
        _set("Parameters.LegacyDashboardPassword", {"Type": "String", "NoEcho": True}),
    ),
    (
        "legacy-missing-parameter-fatal",
        legacy_missing_parameter_is_not_fatal,
        _user_data("LEGACY_LOGIN=off\n", "LEGACY_LOGIN=off\n  exit 1\n"),
    ),
    (
        "legacy-missing-parameter-keeps-login",
        legacy_missing_parameter_is_not_fatal,
        _user_data("with nologin password null", "with login"),
    ),
    ("host-reads-every-parameter", warehouse_host_parameter_reads, _set(f"{HOST_STATEMENTS}.1", None)),
    ("host-allows-every-parameter", warehouse_host_parameter_reads, _set(f"{HOST_STATEMENTS}.0.Resource", "*")),
    (
        "host-reads-a-third-parameter",
        warehouse_host_parameter_reads,
        _append(f"{HOST_STATEMENTS}.0.Resource", {"Fn::Sub": parameter_arn("AlarmEmail")}),
    ),
    (
        "host-deny-lets-get-parameters-through",
        warehouse_host_parameter_reads,
        _set(f"{HOST_STATEMENTS}.1.Action", "ssm:GetParameter"),
    ),
    (
        "host-allows-only-the-etl-password",
        warehouse_host_parameter_reads,
        _set(f"{HOST_STATEMENTS}.0.Resource", {"Fn::Sub": parameter_arn("WarehousePasswordParameterName")}),
    ),
    ("host-reads-parameters-by-path", instance_roles, _append(HOST_STATEMENTS, HOST_READS_BY_PATH_AND_S3)),
    ("etl-without-ip-mode", etl_anonymises_like_ingest, _set(f"{ETL_VARIABLES}.CLICKSTREAM_IP_MODE", None)),
    ("etl-ip-mode-fixed", etl_anonymises_like_ingest, _set(f"{ETL_VARIABLES}.CLICKSTREAM_IP_MODE", "truncate")),
    ("etl-without-salt", etl_anonymises_like_ingest, _set(f"{ETL_VARIABLES}.CLICKSTREAM_IP_SALT", None)),
    (
        "etl-salt-always",
        etl_anonymises_like_ingest,
        _set(f"{ETL_VARIABLES}.CLICKSTREAM_IP_SALT", {"Ref": "IpHashSalt"}),
    ),
    (
        "database-default-old",
        database_default_matches_package,
        _set("Parameters.WarehouseDatabaseName.Default", "clickstream"),
    ),
    ("legacy-output-missing", legacy_connection_output, _set("Outputs.LegacyDashboardConnection", None)),
    (
        "legacy-output-fixed-database",
        legacy_connection_output,
        _set(
            "Outputs.LegacyDashboardConnection.Value",
            {
                "Fn::Sub": "host=127.0.0.1 port=5432 dbname=clickstream user=clickstream_legacy password=<SecureString ${LegacyDashboardPasswordParameterName}>"
            },
        ),
    ),
    ("salt-unconstrained", ip_hash_salt, _set("Parameters.IpHashSalt.AllowedPattern", None)),
    ("salt-of-any-length", ip_hash_salt, _set("Parameters.IpHashSalt.AllowedPattern", "^.*$")),
    ("salt-echoed", ip_hash_salt, _set("Parameters.IpHashSalt.NoEcho", None)),
    (
        "etl-ssl-prefer",
        etl_over_tls,
        _set(f"Resources.{ETL_FUNCTION}.Properties.Environment.Variables.DW_PG_SSL", "prefer"),
    ),
    (
        "etl-hba-without-tls",
        etl_over_tls,
        _user_data(
            "hostssl ${WarehouseDatabaseName} ${WarehouseEtlUser} 10.0.3.0/24",
            "host ${WarehouseDatabaseName} ${WarehouseEtlUser} 10.0.3.0/24",
        ),
    ),
    ("etl-role-without-the-shop-secret", etl_role, _shop_secret_removed),
    ("oltp-postgres-from-shiny", oltp_postgres_ingress, _add_resource("OltpFromShiny", OLTP_FROM_SHINY)),
    (
        "oltp-admits-the-etl-without-a-shop-database",
        oltp_postgres_ingress,
        _set("Resources.OltpIngressFromEtl.Condition", "CreateOltp"),
    ),
    (
        "oltp-every-port-from-the-etl",
        oltp_postgres_ingress,
        _set("Resources.OltpIngressFromEtl.Properties.ToPort", 65535),
    ),
    ("oltp-not-admitting-the-etl", oltp_postgres_ingress, _set("Resources.OltpIngressFromEtl", None)),
    (
        "shiny-reaches-the-oltp-subnet",
        oltp_postgres_ingress,
        _append(
            "Resources.ShinySecurityGroup.Properties.SecurityGroupEgress",
            {**POSTGRES_FROM_ADMIN, "CidrIp": "10.0.0.0/16"},
        ),
    ),
    ("dw-reaches-the-oltp-group", oltp_postgres_ingress, _add_resource("DwToOltp", DW_TO_OLTP)),
    ("etl-postgres-to-the-vpc", etl_postgres_egress, _set(f"{ETL_EGRESS}.0.CidrIp", "10.0.0.0/16")),
    ("etl-https-range-up-to-postgres", etl_postgres_egress, _set(f"{ETL_EGRESS}.1.ToPort", 5432)),
    (
        "etl-reaches-the-oltp-host-without-a-shop-database",
        etl_postgres_egress,
        _set("Resources.EtlEgressToOltp.Condition", "CreateOltp"),
    ),
    ("etl-shop-egress-without-its-cidr", etl_postgres_egress, _set(f"{SHOP_EGRESS}.Condition", "HasShopDatabase")),
    ("etl-shop-egress-every-port", etl_postgres_egress, _set(f"{SHOP_EGRESS}.Properties.FromPort", 0)),
    ("etl-shop-egress-anywhere", etl_postgres_egress, _set(f"{SHOP_EGRESS}.Properties.CidrIp", "0.0.0.0/0")),
    ("shop-cidr-unconstrained", etl_postgres_egress, _set("Parameters.ShopDatabaseCidr.AllowedPattern", None)),
    ("etl-reads-every-secret", etl_shop_secret_read, _shop_secret("Resource", "*")),
    (
        "etl-reads-secrets-by-wildcard",
        etl_shop_secret_read,
        _shop_secret(
            "Resource", {"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*"}
        ),
    ),
    (
        "etl-may-list-secrets",
        etl_shop_secret_read,
        _shop_secret("Action", ["secretsmanager:GetSecretValue", "secretsmanager:ListSecrets"]),
    ),
    ("etl-reads-the-secret-without-a-shop-database", etl_shop_secret_read, _shop_secret_unconditional),
    ("etl-never-reads-the-secret", etl_shop_secret_read, _shop_secret_removed),
    ("host-reads-the-shop-secret", etl_shop_secret_read, _append(HOST_STATEMENTS, HOST_READS_THE_SHOP_SECRET)),
    ("secret-arn-any-string", etl_shop_secret_read, _set("Parameters.ShopDatabaseSecretArn.AllowedPattern", "^.*$")),
    (
        "shop-database-on-by-default",
        etl_shop_secret_read,
        _set("Parameters.ShopDatabaseSecretArn.Default", SHOP_SECRET_ARN),
    ),
    ("secrets-endpoint-always", secrets_manager_endpoint, _set("Resources.SecretsManagerEndpoint.Condition", None)),
    ("secrets-endpoint-missing", secrets_manager_endpoint, _set("Resources.SecretsManagerEndpoint", None)),
    (
        "secrets-endpoint-in-the-public-subnet",
        secrets_manager_endpoint,
        _set("Resources.SecretsManagerEndpoint.Properties.SubnetIds", [{"Ref": "PublicSubnet"}]),
    ),
    (
        "secrets-endpoint-without-private-dns",
        secrets_manager_endpoint,
        _set("Resources.SecretsManagerEndpoint.Properties.PrivateDnsEnabled", False),
    ),
    (
        "etl-does-not-wait-for-the-secrets-endpoint",
        secrets_manager_endpoint,
        _set(
            f"Resources.{ETL_FUNCTION}.DependsOn",
            ["S3GatewayEndpoint", "SsmEndpoint", "EtlSubnetRouteTableAssociation"],
        ),
    ),
    (
        "shop-ssl-prefer",
        shop_variables,
        _set(f"{ETL_VARIABLES}.SHOP_PG_SSL", {"Fn::If": ["HasShopDatabase", "prefer", NO_VALUE]}),
    ),
    (
        "shop-secret-arn-always",
        shop_variables,
        _set(f"{ETL_VARIABLES}.SHOP_PG_SECRET_ARN", {"Ref": "ShopDatabaseSecretArn"}),
    ),
    (
        "shop-host-the-warehouse",
        shop_variables,
        _set(f"{ETL_VARIABLES}.SHOP_PG_HOST.Fn::If.1", {"Fn::GetAtt": ["WarehouseInstance", "PrivateIp"]}),
    ),
    ("shop-without-schema", shop_variables, _set(f"{ETL_VARIABLES}.SHOP_PG_SCHEMA", None)),
    (
        "shop-settings-to-ingest",
        shop_variables,
        _set(f"Resources.{INGEST_FUNCTION}.Properties.Environment.Variables.SHOP_PG_HOST", {"Ref": "ShopDatabaseHost"}),
    ),
    (
        "shop-password-in-the-environment",
        shop_password_never_inline,
        _set(f"{ETL_VARIABLES}.SHOP_PG_PASSWORD", {"Ref": "ShopDatabasePassword"}),
    ),
    (
        "shop-url-in-the-environment",
        shop_password_never_inline,
        _set(f"{ETL_VARIABLES}.SHOP_DB_URL", {"Fn::Sub": "postgresql://reader:hunter2@${ShopDatabaseHost}/shop"}),
    ),
    (
        "shop-password-as-a-parameter",
        shop_password_never_inline,
        _set("Parameters.ShopDatabasePassword", {"Type": "String", "NoEcho": True}),
    ),
    (
        "shop-without-a-host-accepted",
        shop_database_combinations,
        _set("Rules.ShopDatabaseOnTheOltpHost.Assertions.0", None),
    ),
    (
        "shop-oltp-on-another-port-accepted",
        shop_database_combinations,
        _set("Rules.ShopDatabaseOnTheOltpHost.Assertions.1", None),
    ),
    (
        "shop-outside-without-its-network-accepted",
        shop_database_combinations,
        _set("Rules.ShopDatabaseOutsideNeedsItsNetwork", None),
    ),
    (
        "shop-settings-without-the-secret-accepted",
        shop_database_combinations,
        _set("Rules.ShopDatabaseSettingsNeedTheSecret", None),
    ),
    (
        "shop-outside-refused",
        shop_database_combinations,
        _set(
            "Rules.ShopDatabaseOnTheOltpHost.RuleCondition",
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "ShopDatabaseSecretArn"}, ""]}]},
        ),
    ),
    ("oltp-hba-without-the-etl", oltp_admits_the_etl_over_tls, _user_data(f"{OLTP_HBA_ETL}\n", "", "OltpInstance")),
    (
        "oltp-hba-etl-without-tls",
        oltp_admits_the_etl_over_tls,
        _user_data(OLTP_HBA_ETL, OLTP_HBA_ETL.replace("hostssl", "host"), "OltpInstance"),
    ),
    (
        "oltp-hba-etl-trusted",
        oltp_admits_the_etl_over_tls,
        _user_data(OLTP_HBA_ETL, OLTP_HBA_ETL.replace("scram-sha-256", "trust"), "OltpInstance"),
    ),
    (
        "alarm-topic-only-with-an-email",
        alarms_notify_an_encrypted_topic,
        _set("Resources.AlarmTopic.Condition", "HasAlarmEmail"),
    ),
    (
        "alarm-without-the-topic",
        alarms_notify_an_encrypted_topic,
        _set(
            "Resources.HealthAnomalyAlarm.Properties.AlarmActions",
            {"Fn::If": ["HasAlarmEmail", [{"Ref": "AlarmTopic"}], NO_VALUE]},
        ),
    ),
    ("alarm-never-ok", alarms_notify_an_encrypted_topic, _set("Resources.NoEventsAlarm.Properties.OKActions", None)),
    (
        "alarm-topic-unencrypted",
        alarms_notify_an_encrypted_topic,
        _set("Resources.AlarmTopic.Properties.KmsMasterKeyId", None),
    ),
    (
        "alarm-topic-with-aws-sns",
        alarms_notify_an_encrypted_topic,
        _set("Resources.AlarmTopic.Properties.KmsMasterKeyId", "alias/aws/sns"),
    ),
    (
        "alarm-key-not-rotating",
        alarms_notify_an_encrypted_topic,
        _set("Resources.AlarmTopicKey.Properties.EnableKeyRotation", False),
    ),
    (
        "alarm-key-for-anyone",
        alarms_notify_an_encrypted_topic,
        _append(
            "Resources.AlarmTopicKey.Properties.KeyPolicy.Statement",
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*"},
        ),
    ),
    (
        "alarm-key-for-cloudwatch-of-any-account",
        alarms_notify_an_encrypted_topic,
        _set("Resources.AlarmTopicKey.Properties.KeyPolicy.Statement.1.Condition", None),
    ),
    (
        "alarm-email-always",
        alarms_notify_an_encrypted_topic,
        _set("Resources.AlarmEmailSubscription.Condition", None),
    ),
    ("etl-metrics-elsewhere", health_alarms, _set(f"{ETL_VARIABLES}.POWERTOOLS_METRICS_NAMESPACE", "Other")),
    ("etl-metrics-fixed-service", health_alarms, _set(f"{ETL_VARIABLES}.POWERTOOLS_SERVICE_NAME", "clickstream")),
    ("no-anomaly-alarm", health_alarms, _set("Resources.HealthAnomalyAlarm", None)),
    (
        "dead-tracker-missing-data-ok",
        health_alarms,
        _set("Resources.NoEventsAlarm.Properties.TreatMissingData", "notBreaching"),
    ),
    (
        "events-alarm-on-another-stack",
        health_alarms,
        _set("Resources.NoEventsAlarm.Properties.Dimensions.0.Value", "clickstream"),
    ),
    ("no-capture-alarm", health_alarms, _set("Resources.LowCaptureRateAlarm", None)),
    ("duration-alarm-at-the-timeout", health_alarms, _set("Resources.EtlDurationAlarm.Properties.Threshold", 900000)),
    ("no-ingest-5xx-alarm", health_alarms, _set("Resources.IngestServerErrorsAlarm", None)),
    # the optional engines
    (
        "redshift-by-default",
        default_deploy_unchanged,
        _set("Parameters.WarehouseEngine.Default", "redshift-serverless"),
    ),
    ("glue-endpoint-always", default_deploy_unchanged, _set("Resources.GlueEndpoint.Condition", None)),
    (
        "sqs-endpoint-only-with-spark",
        default_deploy_unchanged,
        _set("Resources.SqsEndpoint.Condition", "UseEmrServerless"),
    ),
    ("lake-output-always", default_deploy_unchanged, _set("Outputs.SparkLakeUri.Condition", None)),
    (
        "engine-variable-always",
        default_deploy_unchanged,
        _set(f"{ETL_VARIABLES}.CLICKSTREAM_WAREHOUSE_ENGINE", {"Ref": "WarehouseEngine"}),
    ),
    ("redshift-publicly-accessible", redshift_workgroup_is_private, _set(f"{WG}.PubliclyAccessible", True)),
    ("redshift-public-by-omission", redshift_workgroup_is_private, _set(f"{WG}.PubliclyAccessible", None)),
    ("redshift-without-vpc-routing", redshift_workgroup_is_private, _set(f"{WG}.EnhancedVpcRouting", False)),
    ("redshift-without-tls", redshift_workgroup_is_private, _set(f"{WG}.ConfigParameters", None)),
    (
        "redshift-in-the-public-subnet",
        redshift_workgroup_is_private,
        _set(f"{WG}.SubnetIds.2", {"Ref": "PublicSubnet"}),
    ),
    ("redshift-in-two-subnets", redshift_workgroup_is_private, _set(f"{WG}.SubnetIds.2", None)),
    (
        "redshift-in-two-zones",
        redshift_workgroup_is_private,
        _set("Resources.AnalyticsSubnetC.Properties.AvailabilityZone", {"Fn::Select": [1, {"Fn::GetAZs": ""}]}),
    ),
    (
        "redshift-subnet-maps-public-ips",
        redshift_workgroup_is_private,
        _set("Resources.AnalyticsSubnetB.Properties.MapPublicIpOnLaunch", True),
    ),
    (
        "redshift-subnet-routes-to-the-internet",
        redshift_workgroup_is_private,
        _set("Resources.AnalyticsSubnetBRouteTableAssociation.Properties.RouteTableId", {"Ref": "PublicRouteTable"}),
    ),
    (
        "redshift-in-the-endpoints-group",
        redshift_workgroup_is_private,
        _set(f"{WG}.SecurityGroupIds", [{"Ref": "EndpointSecurityGroup"}]),
    ),
    (
        "redshift-admin-password-unmanaged",
        redshift_workgroup_is_private,
        _set("Resources.RedshiftNamespace.Properties.ManageAdminPassword", None),
    ),
    ("redshift-from-the-vpc", redshift_ingress, _add_ingress("SG-Redshift", REDSHIFT_FROM_THE_VPC)),
    ("redshift-from-the-endpoints", redshift_ingress, _add_resource("RedshiftFromEndpoints", REDSHIFT_FROM_ENDPOINTS)),
    (
        "redshift-every-port-from-the-etl",
        redshift_ingress,
        _set("Resources.RedshiftSecurityGroup.Properties.SecurityGroupIngress.0.ToPort", 65535),
    ),
    (
        "redshift-without-the-dashboard",
        redshift_ingress,
        _set("Resources.RedshiftSecurityGroup.Properties.SecurityGroupIngress.1", None),
    ),
    ("redshift-unreachable-from-the-etl", redshift_ingress, _set("Resources.EtlEgressToRedshift", None)),
    ("copy-role-reads-the-bucket", redshift_copy_role, _set(f"{COPY}.0.Resource", {"Fn::Sub": "${RawBucket.Arn}/*"})),
    (
        "copy-role-reads-raw-events",
        redshift_copy_role,
        _set(f"{COPY}.0.Resource", {"Fn::Sub": "${RawBucket.Arn}/${RawPrefix}*"}),
    ),
    ("copy-role-lists-the-bucket", redshift_copy_role, _set(f"{COPY}.1.Condition", None)),
    ("copy-role-may-write", redshift_copy_role, _set(f"{COPY}.0.Action", ["s3:GetObject", "s3:PutObject"])),
    (
        "copy-role-assumed-by-ec2",
        redshift_copy_role,
        _set(
            "Resources.RedshiftCopyRole.Properties.AssumeRolePolicyDocument.Statement.0.Principal.Service",
            "ec2.amazonaws.com",
        ),
    ),
    (
        "namespace-with-the-etl-role",
        redshift_copy_role,
        _append("Resources.RedshiftNamespace.Properties.IamRoles", {"Fn::GetAtt": [f"{ETL_FUNCTION}Role", "Arn"]}),
    ),
    ("etl-statements-on-every-workgroup", etl_role, _in_if(ETL_STATEMENTS, "RedshiftDataStatements", "Resource", "*")),
    ("etl-reads-every-statement", etl_role, _in_if(ETL_STATEMENTS, "RedshiftDataOwnStatements", "Condition", None)),
    (
        "etl-credentials-for-every-workgroup",
        etl_role,
        _in_if(
            ETL_STATEMENTS,
            "RedshiftCredentials",
            "Resource",
            {"Fn::Sub": "arn:${AWS::Partition}:redshift-serverless:${AWS::Region}:${AWS::AccountId}:workgroup/*"},
        ),
    ),
    (
        "etl-writes-raw-events",
        etl_role,
        _in_if(ETL_STATEMENTS, "WriteRedshiftStaging", "Resource", {"Fn::Sub": "${RawBucket.Arn}/${RawPrefix}*"}),
    ),
    ("etl-redshift-statements-by-default", etl_role, _unwrap_if(ETL_STATEMENTS, "RedshiftDataStatements")),
    ("etl-runs-jobs-anywhere", etl_role, _in_if(ETL_STATEMENTS, "SparkJobRuns", "Resource", "*")),
    (
        "etl-cancels-job-runs",
        etl_role,
        _in_if(
            ETL_STATEMENTS, "SparkJobRunStates", "Action", ["emr-serverless:GetJobRun", "emr-serverless:CancelJobRun"]
        ),
    ),
    (
        "etl-passes-any-role",
        pass_role_only_the_spark_job_role,
        _in_if(ETL_STATEMENTS, "PassSparkJobRole", "Resource", "*"),
    ),
    (
        "etl-passes-the-copy-role",
        pass_role_only_the_spark_job_role,
        _in_if(ETL_STATEMENTS, "PassSparkJobRole", "Resource", {"Fn::GetAtt": ["RedshiftCopyRole", "Arn"]}),
    ),
    (
        "etl-passes-to-any-service",
        pass_role_only_the_spark_job_role,
        _in_if(ETL_STATEMENTS, "PassSparkJobRole", "Condition", None),
    ),
    (
        "job-role-passes-itself",
        pass_role_only_the_spark_job_role,
        _append(
            JOB, {"Effect": "Allow", "Action": "iam:PassRole", "Resource": {"Fn::GetAtt": ["SparkJobRole", "Arn"]}}
        ),
    ),
    ("spark-never-stops", spark_application, _set(f"{APP}.AutoStopConfiguration.Enabled", False)),
    ("spark-idles-for-hours", spark_application, _set(f"{APP}.AutoStopConfiguration.IdleTimeoutMinutes", 240)),
    ("spark-without-a-ceiling", spark_application, _set(f"{APP}.MaximumCapacity", None)),
    ("spark-ceiling-fixed", spark_application, _set(f"{APP}.MaximumCapacity.Cpu", "400 vCPU")),
    ("spark-ceiling-unbounded", spark_application, _set("Parameters.EmrMaxMemoryGb.MaxValue", None)),
    (
        "spark-pre-initialized",
        spark_application,
        _set(f"{APP}.InitialCapacity", [{"Key": "Driver", "Value": {"WorkerCount": 1}}]),
    ),
    ("spark-logs-nowhere", spark_application, _set(f"{APP}.MonitoringConfiguration", None)),
    (
        "spark-in-the-public-subnet",
        spark_application,
        _set(f"{APP}.NetworkConfiguration.SubnetIds", [{"Ref": "PublicSubnet"}]),
    ),
    ("spark-admits-the-vpc", spark_application, _add_ingress("SG-Spark", {**WIDE_RANGE, "CidrIp": "10.0.0.0/16"})),
    (
        "spark-lets-everything-out",
        spark_application,
        _set("Resources.SparkSecurityGroup.Properties.SecurityGroupEgress.0.IpProtocol", "-1"),
    ),
    ("job-role-writes-the-bucket", spark_job_role_scope, _set(f"{JOB}.1.Resource", {"Fn::Sub": "${RawBucket.Arn}/*"})),
    ("job-role-deletes-raw-events", spark_job_role_scope, _set(f"{JOB}.0.Action", ["s3:GetObject", "s3:DeleteObject"])),
    ("job-role-lists-the-bucket", spark_job_role_scope, _set(f"{JOB}.2.Condition", None)),
    ("job-role-every-glue-database", spark_job_role_scope, _set(f"{JOB}.4.Resource.1", GLUE_EVERY_DATABASE)),
    ("job-role-glue-on-star", spark_job_role_scope, _set(f"{JOB}.4.Resource", "*")),
    (
        "job-role-writes-default",
        spark_job_role_scope,
        _set(f"{JOB}.5.Action", ["glue:GetDatabase", "glue:CreateTable"]),
    ),
    ("job-role-logs-anywhere", spark_job_role_scope, _set(f"{JOB}.7.Resource", "*")),
    (
        "job-role-assumed-by-ec2",
        spark_job_role_scope,
        _set(
            "Resources.SparkJobRole.Properties.AssumeRolePolicyDocument.Statement.0.Principal.Service",
            [EMR_SERVICE, "ec2.amazonaws.com"],
        ),
    ),
    (
        "staging-prefix-elsewhere",
        etl_engine_variables,
        _set(f"{ETL_VARIABLES}.CLICKSTREAM_REDSHIFT_STAGING_PREFIX.Fn::If.1", "staging/"),
    ),
    (
        "lake-uri-with-redshift",
        etl_engine_variables,
        _set(f"{ETL_VARIABLES}.CLICKSTREAM_SPARK_LAKE_URI.Fn::If.0", "UseRedshiftServerless"),
    ),
    ("no-workgroup-variable", etl_engine_variables, _set(f"{ETL_VARIABLES}.CLICKSTREAM_REDSHIFT_WORKGROUP", None)),
    (
        "redshift-password-in-the-environment",
        etl_engine_variables,
        _set(
            f"{ETL_VARIABLES}.CLICKSTREAM_REDSHIFT_PASSWORD", {"Fn::If": ["UseRedshiftServerless", "hunter2", NO_VALUE]}
        ),
    ),
    (
        "engine-settings-to-ingest",
        etl_engine_variables,
        _set(
            f"Resources.{INGEST_FUNCTION}.Properties.Environment.Variables.CLICKSTREAM_EMR_APPLICATION_ID",
            {"Fn::If": ["UseEmrServerless", {"Fn::GetAtt": ["SparkApplication", "ApplicationId"]}, NO_VALUE]},
        ),
    ),
    ("redshift-data-endpoint-always", engine_endpoints, _set("Resources.RedshiftDataEndpoint.Condition", None)),
    ("glue-endpoint-missing", engine_endpoints, _set("Resources.GlueEndpoint", None)),
    (
        "logs-endpoint-in-the-public-subnet",
        engine_endpoints,
        _set("Resources.LogsEndpoint.Properties.SubnetIds", [{"Ref": "PublicSubnet"}]),
    ),
    (
        "emr-endpoint-without-private-dns",
        engine_endpoints,
        _set("Resources.EmrServerlessEndpoint.Properties.PrivateDnsEnabled", False),
    ),
    (
        "etl-does-not-wait-for-redshift-data",
        engine_endpoints,
        _set("Resources.EtlSecretsEndpointReady.Metadata.RedshiftDataEndpoint", "none"),
    ),
    (
        "spark-does-not-wait-for-glue",
        engine_endpoints,
        _set("Resources.SparkApplication.DependsOn", ["S3GatewayEndpoint", "LogsEndpoint"]),
    ),
    (
        "s3-endpoint-writes-anywhere",
        engine_writes_through_the_s3_endpoint,
        _in_if(S3_ENDPOINT_STATEMENTS, "RedshiftStagingWrites", "Resource", "*"),
    ),
    (
        "s3-endpoint-lake-writes-by-default",
        engine_writes_through_the_s3_endpoint,
        _unwrap_if(S3_ENDPOINT_STATEMENTS, "SparkLakeWrites"),
    ),
    (
        "s3-endpoint-lake-deletes-raw-events",
        engine_writes_through_the_s3_endpoint,
        _in_if(S3_ENDPOINT_STATEMENTS, "SparkLakeWrites", "Resource", {"Fn::Sub": "${RawBucket.Arn}/*"}),
    ),
    (
        "staging-never-expires",
        engine_writes_through_the_s3_endpoint,
        _set("Resources.RawBucket.Properties.LifecycleConfiguration.Rules.2", None),
    ),
]


@pytest.mark.parametrize(("check", "mutate"), [(c, m) for _, c, m in BREAKS], ids=[name for name, _, _ in BREAKS])
def test_check_catches_a_broken_template(template: Template, check: Check, mutate: Callable[[Template], None]) -> None:
    broken = copy.deepcopy(template)
    mutate(broken)
    assert check(broken) != []


def test_every_check_is_shown_to_catch_a_broken_template() -> None:
    assert set(CHECKS) == {check for _, check, _ in BREAKS}


# ---------------------------------------------------------------- what the issue asks of the functions and outputs


def test_ingest_function_is_outside_the_vpc_behind_a_throttled_logged_http_api(template: Template) -> None:
    function = props(template["Resources"][INGEST_FUNCTION])
    api = props(template["Resources"]["IngestApi"])
    events = list(function["Events"].values())
    assert "VpcConfig" not in function
    assert function["CodeUri"] == "../dist/ingest.zip"
    assert events == [
        {"Type": "HttpApi", "Properties": {"ApiId": {"Ref": "IngestApi"}, "Path": "/clickstream", "Method": "POST"}}
    ]
    assert api["CorsConfiguration"]["AllowOrigins"] == {"Ref": "CorsAllowedOrigins"}
    assert template["Parameters"]["CorsAllowedOrigins"]["Type"] == "CommaDelimitedList"
    assert set(api["DefaultRouteSettings"]) == {"ThrottlingBurstLimit", "ThrottlingRateLimit"}
    assert json.loads(api["AccessLogSettings"]["Format"])["requestId"] == "$context.requestId"
    log_group = target(api["AccessLogSettings"]["DestinationArn"])
    assert "RetentionInDays" in props(template["Resources"][str(log_group)])
    assert set(function["Environment"]["Variables"]) >= {
        "RAW_BUCKET_NAME",
        "RAW_PREFIX",
        "CLICKSTREAM_IP_MODE",
        "CLICKSTREAM_CORS_ORIGINS",
    }
    assert template["Parameters"]["IpMode"]["AllowedValues"] == ["truncate", "hash", "full"]


def test_etl_function_is_configured_as_the_loader_expects(template: Template) -> None:
    function = props(template["Resources"][ETL_FUNCTION])
    variables = function["Environment"]["Variables"]
    (schedule,) = function["Events"].values()
    assert (function["Timeout"], function["EphemeralStorage"], function["CodeUri"]) == (
        900,
        {"Size": 1024},
        "../dist/etl.zip",
    )
    assert schedule["Type"] == "Schedule"
    assert template["Parameters"][target(schedule["Properties"]["Schedule"])]["Default"] == "rate(30 minutes)"
    assert variables["DW_PG_HOST"] == {"Fn::GetAtt": [warehouse_instance(template), "PrivateIp"]}
    assert variables["DW_PG_PASSWORD_PARAM"] == {"Ref": "WarehousePasswordParameterName"}
    assert {k: variables[k] for k in ("DW_PG_PORT", "DW_PG_SSL", "CLICKSTREAM_LOOKBACK_HOURS", "HOME")} == {
        "DW_PG_PORT": "5432",
        "DW_PG_SSL": "require",
        "CLICKSTREAM_LOOKBACK_HOURS": "72",
        "HOME": "/tmp",
    }
    assert variables["DBT_SEND_ANONYMOUS_USAGE_STATS"] == "false"
    assert not {"DW_PG_PASSWORD", "DW_URL"} & set(variables), "the password is read from Parameter Store, never set"


def test_functions_have_log_groups_with_retention_and_the_etl_an_errors_alarm(template: Template) -> None:
    for lid in (INGEST_FUNCTION, ETL_FUNCTION):
        group = target(props(template["Resources"][lid])["LoggingConfig"]["LogGroup"])
        assert props(template["Resources"][str(group)])["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    alarms = [props(a) for a in resources(template, "AWS::CloudWatch::Alarm").values()]
    assert any(
        a["MetricName"] == "Errors" and a["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": ETL_FUNCTION}}]
        for a in alarms
    )


def test_port_forward_outputs_are_ready_to_paste(template: Template) -> None:
    outputs = template["Outputs"]
    for name, port in (("WarehousePortForwardCommand", "5432"), ("DashboardPortForwardCommand", "8050")):
        command = str(sub_text(outputs[name]["Value"]))
        assert command.startswith("aws ssm start-session")
        assert "--document-name AWS-StartPortForwardingSession" in command
        parameters = json.loads(command.split("--parameters ")[1].strip("'"))
        assert parameters["portNumber"] == [port]


def test_dashboard_install_output_runs_the_install_script_on_the_host_from_the_artifacts_bucket(
    template: Template,
) -> None:
    outputs = template["Outputs"]
    bucket = artifacts_bucket(template)
    archive = f"s3://${{{bucket}}}/{ARTIFACTS_PREFIX}wheelhouse.tar.gz"
    command = str(sub_text(outputs["DashboardInstallCommand"]["Value"]))
    assert command.startswith("aws ssm send-command")
    assert f"--instance-ids ${{{warehouse_instance(template)}}}" in command
    assert "--document-name AWS-RunShellScript" in command
    parameters = json.loads(command.split("--parameters ")[1].split("'")[1])
    assert parameters == {"commands": [f"/usr/local/sbin/clickstream-install-dashboard {archive}"]}
    upload = str(sub_text(outputs["DashboardUploadCommand"]["Value"]))
    assert upload == f"aws s3 cp dist/dashboard-wheelhouse.tar.gz {archive}"
    assert f"CLICKSTREAM_DASHBOARD_ARCHIVE={archive}" in user_data(template, warehouse_instance(template))


def test_etl_security_group_id_output_names_sg_etl_lambda_in_every_deploy(template: Template) -> None:
    output = template["Outputs"]["EtlSecurityGroupId"]
    assert output["Value"] == {"Fn::GetAtt": [security_group(template, "SG-ETL-Lambda"), "GroupId"]}
    assert "Condition" not in output
    assert "10.0.3.0/24" in output["Description"], "an outside database may admit the ETL subnet instead"


def test_the_raw_bucket_notifies_an_encrypted_tls_only_queue_with_a_dead_letter_queue_the_etl_reads(
    template: Template,
) -> None:
    resources_ = template["Resources"]
    [queue_configuration] = props(resources_["RawBucket"])["NotificationConfiguration"]["QueueConfigurations"]
    assert queue_configuration["Event"] == "s3:ObjectCreated:*"
    assert queue_configuration["Queue"] == {"Fn::GetAtt": ["RawNotificationsQueue", "Arn"]}
    assert queue_configuration["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": {"Ref": "RawPrefix"}}]
    queue, dead = props(resources_["RawNotificationsQueue"]), props(resources_["RawNotificationsDeadLetterQueue"])
    assert queue["SqsManagedSseEnabled"] and dead["SqsManagedSseEnabled"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["RawNotificationsDeadLetterQueue", "Arn"]}
    assert queue["VisibilityTimeout"] > props(resources_[ETL_FUNCTION])["Timeout"], "a held message outlives a run"
    statements = props(resources_["RawNotificationsQueuePolicy"])["PolicyDocument"]["Statement"]
    [send] = [s for s in statements if s["Effect"] == "Allow"]
    assert (send["Principal"], send["Action"]) == ({"Service": "s3.amazonaws.com"}, "sqs:SendMessage")
    assert send["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert any(s["Effect"] == "Deny" and s["Condition"]["Bool"]["aws:SecureTransport"] == "false" for s in statements)
    env = props(resources_[ETL_FUNCTION])["Environment"]["Variables"]
    assert env["RAW_QUEUE_URL"] == {"Ref": "RawNotificationsQueue"}
    alarm = props(resources_["RawNotificationsDeadLetterAlarm"])
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["RawNotificationsDeadLetterQueue", "QueueName"]}
