"""One customer-managed key for every log group of the stack.

The Express and Standard workflows log with execution data (so that the Step Functions console
can show an Express run), which carries customers' event data; the functions' and the API's
logs can carry it in errors. All of it is encrypted with this key.
"""

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


class LogEncryption(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(self, "Key", enable_key_rotation=True,
                           description="Stepwire: encrypts the stack's CloudWatch log groups",
                           removal_policy=RemovalPolicy.RETAIN)
        # CloudWatch Logs uses the key for log groups of this account and Region only.
        self.key.add_to_resource_policy(iam.PolicyStatement(
            principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
            actions=["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo",
                     "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext",
                     "kms:DescribeKey"],
            resources=["*"],  # in a key policy, "*" is this key
            conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                    f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}"
                                    ":log-group:*"}}))
