#!/usr/bin/env python3
"""Builds and inspects the AWS estate the AWS end-to-end test runs against, on a moto server.

  estate.py setup ENDPOINT OUT      admin + zonedef IAM users, a VPC, three subnets in three AZs,
                                    an ALB with a target group, an ASG of 3 and 3 more tagged
                                    instances; writes shell variables to OUT
  estate.py acls ENDPOINT           one line per subnet: "subnet acl", then "tagged N"
  estate.py state ENDPOINT ID...    one line per instance: "id state"

moto starts with INITIAL_NO_AUTH_ACTION_COUNT=4: the first four calls (CreateUser, PutUserPolicy,
CreateAccessKey for the admin, and one spare) are unauthenticated; from then on every request is
signature-checked against the IAM users here, and allowed only by their policies. zonedef's user
gets the README's policy with its Condition and Resource parts removed, because moto evaluates
only the Action list (moto/iam/access_control.py: "TODO add support for the Resource and
Condition parts"): the test proves zonedef needs no action beyond the policy's, not the
conditions.

Reads the admin keys from the environment (ADMIN_KEY, ADMIN_SECRET) for everything but setup.
"""
import json
import os
import sys

import boto3

REGION = "eu-west-1"
AZS = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
AMI = "ami-12c6146b"  # one of moto's built-in images


def client(endpoint, svc, key=None, secret=None):
    return boto3.client(
        svc,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=key or os.environ.get("ADMIN_KEY", "AKIDBOOTSTRAP0000000"),
        aws_secret_access_key=secret or os.environ.get("ADMIN_SECRET", "bootstrap"),
    )


def policy_for_moto(path):
    doc = json.load(open(path))
    actions = []
    for st in doc["Statement"]:
        a = st["Action"]
        actions += a if isinstance(a, list) else [a]
    return json.dumps(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Action": sorted(set(actions)), "Resource": "*"}]})


def setup(endpoint, out):
    iam = client(endpoint, "iam")
    iam.create_user(UserName="admin")
    iam.put_user_policy(UserName="admin", PolicyName="all", PolicyDocument=json.dumps(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    ak = iam.create_access_key(UserName="admin")["AccessKey"]
    os.environ["ADMIN_KEY"], os.environ["ADMIN_SECRET"] = ak["AccessKeyId"], ak["SecretAccessKey"]
    # from here on, signed
    iam = client(endpoint, "iam")
    iam.create_user(UserName="zonedef")
    here = os.path.dirname(os.path.abspath(__file__))
    iam.put_user_policy(UserName="zonedef", PolicyName="zonedef",
                        PolicyDocument=policy_for_moto(os.path.join(here, "iam-policy.json")))
    zk = iam.create_access_key(UserName="zonedef")["AccessKey"]
    # a role with the same policy, reached from zonedef's user through role_arn +
    # source_profile (AssumeRole: session tokens); the user may assume it
    iam.create_role(RoleName="chaos", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Principal": {"AWS": "*"}}]}))
    iam.put_role_policy(RoleName="chaos", PolicyName="zonedef",
                        PolicyDocument=policy_for_moto(os.path.join(here, "iam-policy.json")))
    iam.put_user_policy(UserName="zonedef", PolicyName="assume", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Resource": "*"}]}))
    # a user who may only read, for the DryRun "denied" case of plan --check
    iam.create_user(UserName="reader")
    pol = json.load(open(os.path.join(here, "iam-policy.json")))
    iam.put_user_policy(UserName="reader", PolicyName="read", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [pol["Statement"][0]]}))
    nk = iam.create_access_key(UserName="reader")["AccessKey"]

    ec2 = client(endpoint, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.70.0.0/16")["Vpc"]["VpcId"]
    subnets = []
    for i, az in enumerate(AZS):
        s = ec2.create_subnet(VpcId=vpc, CidrBlock="10.70.%d.0/24" % (i + 1),
                              AvailabilityZone=az)["Subnet"]["SubnetId"]
        subnets.append(s)
    # a second subnet in AZ a: a whole AZ is every subnet in it
    subnets.append(ec2.create_subnet(VpcId=vpc, CidrBlock="10.70.11.0/24",
                                     AvailabilityZone=AZS[0])["Subnet"]["SubnetId"])
    # one subnet of AZ b on a custom ACL of the user's own: it must come back to that one
    custom = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    acls = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id",
                                               "Values": [subnets[1]]}])["NetworkAcls"]
    assoc = [a for a in acls[0]["Associations"] if a["SubnetId"] == subnets[1]][0]
    ec2.replace_network_acl_association(AssociationId=assoc["NetworkAclAssociationId"],
                                        NetworkAclId=custom)

    elb = client(endpoint, "elbv2")
    lb = elb.create_load_balancer(Name="shop-alb", Subnets=subnets[:3])["LoadBalancers"][0]
    tg = elb.create_target_group(Name="shop-web", Protocol="HTTP", Port=80, VpcId=vpc,
                                 TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])

    tags = [{"Key": "app", "Value": "shop"}, {"Key": "env", "Value": "e2e"}]
    ec2.create_launch_template(LaunchTemplateName="shop-lt", LaunchTemplateData={
        "ImageId": AMI, "InstanceType": "t3.micro",
        "TagSpecifications": [{"ResourceType": "instance", "Tags": tags}]})
    asg = client(endpoint, "autoscaling")
    asg.create_auto_scaling_group(
        AutoScalingGroupName="shop-asg", MinSize=3, MaxSize=6, DesiredCapacity=3,
        LaunchTemplate={"LaunchTemplateName": "shop-lt", "Version": "$Latest"},
        VPCZoneIdentifier=",".join(subnets[:3]), TargetGroupARNs=[tg],
        Tags=[dict(t, PropagateAtLaunch=True, ResourceId="shop-asg",
                   ResourceType="auto-scaling-group") for t in tags])
    # three more tagged instances, one per AZ, in the target group
    ids = []
    for s in subnets[:3]:
        r = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=s,
                              TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])
        ids.append(r["Instances"][0]["InstanceId"])
    # and one untagged instance in AZ a: zonedef must never touch it
    r = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnets[0])
    untagged = r["Instances"][0]["InstanceId"]
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": i} for i in ids])

    with open(out, "w") as f:
        f.write("ADMIN_KEY=%s\nADMIN_SECRET=%s\n" % (os.environ["ADMIN_KEY"],
                                                     os.environ["ADMIN_SECRET"]))
        f.write("ZD_KEY=%s\nZD_SECRET=%s\n" % (zk["AccessKeyId"], zk["SecretAccessKey"]))
        f.write("READER_KEY=%s\nREADER_SECRET=%s\n" % (nk["AccessKeyId"], nk["SecretAccessKey"]))
        f.write("VPC=%s\nTG=%s\nCUSTOM_ACL=%s\n" % (vpc, tg, custom))
        f.write("SUBNETS='%s'\nTAGGED='%s'\nUNTAGGED=%s\n" % (" ".join(subnets), " ".join(ids),
                                                            untagged))


def acls(endpoint):
    ec2 = client(endpoint, "ec2")
    vpcs = [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if v["CidrBlock"] == "10.70.0.0/16"]
    res = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": vpcs}])["NetworkAcls"]
    lines, tagged = [], 0
    for a in res:
        if any(t["Key"] == "zonedef:run" for t in a.get("Tags", [])):
            tagged += 1
        for s in a["Associations"]:
            lines.append("%s %s" % (s["SubnetId"], a["NetworkAclId"]))
    for line in sorted(lines):
        print(line)
    print("tagged %d" % tagged)


def state(endpoint, ids):
    ec2 = client(endpoint, "ec2")
    for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]:
        for i in r["Instances"]:
            print(i["InstanceId"], i["State"]["Name"])


if __name__ == "__main__":
    cmd, ep = sys.argv[1], sys.argv[2]
    if cmd == "setup":
        setup(ep, sys.argv[3])
    elif cmd == "acls":
        acls(ep)
    elif cmd == "state":
        state(ep, sys.argv[3:])
