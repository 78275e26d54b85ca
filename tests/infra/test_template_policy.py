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

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "infra" / "template.yaml"

Template = dict[str, Any]
Check = Callable[[Template], list[str]]

PUBLIC_CIDR = "10.0.1.0/24"
ANALYTICS_CIDR = "10.0.2.0/24"
ETL_CIDR = "10.0.3.0/24"
PRIVATE_CIDRS = (ANALYTICS_CIDR, ETL_CIDR)
WORLD = ("0.0.0.0/0", "::/0")

INGEST_FUNCTION = "IngestFunction"
ETL_FUNCTION = "EtlFunction"

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
ETL_ACTIONS = {"s3:getobject", "s3:listbucket", "ssm:getparameter", *LOG_ACTIONS, *ENI_ACTIONS}
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
        elif action in ("s3:putobject", "s3:getobject"):
            if not all(is_raw_object_arn(t, r) for r in resources_):
                found.append(f"{where}: {action} must be limited to raw objects under RawPrefix, not {resources_}")
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
        else:
            found.append(f"{where}: unexpected action {action}")
    return found


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
            if role_statements(t, role):
                found.append(f"{role} must have no other policy, has {role_statements(t, role)}")
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
    role = role_of_function(t, ETL_FUNCTION)
    statements = role_statements(t, role)
    found = [f"{role} must have no managed policy"] if props(t["Resources"][role]).get("ManagedPolicyArns") else []
    granted = set().union(*(actions(s) for s in statements if s.get("Effect") == "Allow"))
    if granted != ETL_ACTIONS:
        found.append(f"{role} actions are {sorted(granted)}, expected exactly {sorted(ETL_ACTIONS)}")
    for s in statements:
        if "*" in as_list(s.get("Resource")) and not actions(s) <= ENI_ACTIONS:
            found.append(f"{role} statement {s.get('Sid')} grants {sorted(actions(s) - ENI_ACTIONS)} on '*'")
    return found + [v for s in statements for v in statement_violations(t, role, s)]


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
    lifecycle = [r for r in p.get("LifecycleConfiguration", {}).get("Rules", []) if r.get("Status") == "Enabled"]
    transitions = [tr for r in lifecycle for tr in r.get("Transitions", [])]
    if {"StorageClass": "STANDARD_IA", "TransitionInDays": 30} not in transitions:
        found.append(f"{bucket} does not move objects to STANDARD_IA after 30 days")
    if not any("NoncurrentVersionExpiration" in r for r in lifecycle):
        found.append(f"{bucket} never expires noncurrent versions")
    return found


def raw_bucket_tls(t: Template) -> list[str]:
    bucket = raw_bucket(t)
    for policy in resources(t, "AWS::S3::BucketPolicy").values():
        if target(props(policy).get("Bucket")) != bucket:
            continue
        for s in as_list(props(policy)["PolicyDocument"]["Statement"]):
            condition = s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")
            covered = as_list(s.get("Resource"))
            if (
                s.get("Effect") == "Deny"
                and s.get("Principal") in ("*", {"AWS": "*"})
                and actions(s) & {"s3:*", "*"}
                and str(condition).lower() == "false"
                and any(is_raw_bucket_arn(t, r) for r in covered)
                and any(sub_text(r) == f"${{{bucket}.Arn}}/*" for r in covered)
            ):
                return []
    return [f"{bucket} has no policy denying requests without TLS (aws:SecureTransport false) on it and its objects"]


def outputs_without_description(t: Template) -> list[str]:
    return [name for name, output in t.get("Outputs", {}).items() if not str(output.get("Description", "")).strip()]


def section_order(t: Template) -> list[str]:
    wanted = ["Parameters", "Globals", "Resources", "Outputs"]
    present = [k for k in t if k in wanted]
    return [] if present == wanted else [f"sections are {present}, expected {wanted}"]


# ---------------------------------------------------------------- the template keeps its promises

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


def test_instance_profile_role_has_only_ssm_managed_instance_core(template: Template) -> None:
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
        "Roles": [{"Ref": "HostRole"}],
        "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]},
    },
}
WH = "Resources.WarehouseInstance.Properties"
OLTP = "Resources.OltpInstance.Properties"

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
    ("host-role-extra-managed-policy", instance_roles, _append_managed_policy("HostRole", "AmazonS3ReadOnlyAccess")),
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
        "DW_PG_SSL": "prefer",
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
