"""The JWT signing key (rotated, previous version kept valid) and the data key (never rotated)."""

from aws_cdk import CustomResource, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from stacks.constants import JWT_ROTATION_INTERVAL


def _generated_placeholder() -> secretsmanager.SecretStringGenerator:
    # CloudFormation can only generate passwords: the seeding custom resource replaces this
    # with a 32-byte base64 key, the format the local runtime provisions.
    return secretsmanager.SecretStringGenerator(password_length=64, exclude_punctuation=True)


class Secrets(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.jwt_signing_key = secretsmanager.Secret(
            self, "JwtSigningKey",
            description="Stepwire: HS256 key of the API's tokens (rotated; the previous "
                        "version stays valid)",
            generate_secret_string=_generated_placeholder())
        self.data_key = secretsmanager.Secret(
            self, "DataKey",
            description="Stepwire: AES-256-GCM key that encrypts subscription signing secrets",
            generate_secret_string=_generated_placeholder(),
            # Losing it loses every stored subscription secret.
            removal_policy=RemovalPolicy.RETAIN)

    @property
    def all(self) -> list[secretsmanager.Secret]:
        return [self.jwt_signing_key, self.data_key]

    def seed_keys(self, seeder: lambda_.IFunction) -> CustomResource:
        """A custom resource that gives both secrets a real key once, at creation."""
        seeder.add_to_role_policy(iam.PolicyStatement(
            actions=["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"],
            resources=[secret.secret_arn for secret in self.all]))
        seed = CustomResource(
            self, "SeedKeys", service_token=seeder.function_arn,
            resource_type="Custom::StepwireSecretKeys",
            properties={"SecretIds": [secret.secret_arn for secret in self.all]})
        # The policy must exist before CloudFormation invokes the function.
        seed.node.add_dependency(seeder)
        return seed

    def rotate_jwt_signing_key(self, rotator: lambda_.Function,
                               after: CustomResource) -> secretsmanager.CfnRotationSchedule:
        """Rotation every JWT_ROTATION_INTERVAL by `rotator` (lambdas/handle_rotate_jwt_key.py).

        Written with the L1 resource: the L2 schedule grants its function
        secretsmanager:GetRandomPassword on *, which this function does not use.
        """
        secret_arn = self.jwt_signing_key.secret_arn
        rotator.add_to_role_policy(iam.PolicyStatement(
            actions=["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
                     "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"],
            resources=[secret_arn]))
        rotator.add_permission(
            "InvokedBySecretsManager",
            principal=iam.ServicePrincipal("secretsmanager.amazonaws.com"),
            source_arn=secret_arn)
        permission = rotator.node.find_child("InvokedBySecretsManager")
        schedule = secretsmanager.CfnRotationSchedule(
            self, "JwtSigningKeyRotation",
            secret_id=secret_arn,
            rotation_lambda_arn=rotator.function_arn,
            rotation_rules=secretsmanager.CfnRotationSchedule.RotationRulesProperty(
                schedule_expression=f"rate({JWT_ROTATION_INTERVAL.to_days()} days)"),
            rotate_immediately_on_update=True)
        schedule.node.add_dependency(permission, rotator, after)
        return schedule
