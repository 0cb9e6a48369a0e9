"""Stateful resources: instances table, PostgreSQL, Valkey, buckets, queue and secrets.

This stack is termination-protected and its resources are retained on stack deletion: losing
it loses users, keys and the usage ledger.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.common import retention
from infra.config import StageConfig, slug
from infra.network_stack import NetworkStack

CACHE_PORT = 6379
DATABASE_NAME = "motherfluxer"


class DataStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        network: NetworkStack,
        **kwargs: Any,
    ):
        super().__init__(scope, construct_id, termination_protection=True, **kwargs)
        sizes = config.sizes
        retain = cdk.RemovalPolicy.RETAIN

        self.instances_table = dynamodb.Table(
            self,
            "InstancesTable",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            # Registration tokens and instance leases expire by themselves.
            time_to_live_attribute="expires_at",
            removal_policy=retain,
            deletion_protection=config.multi_az,
        )

        # Database and cache admit the Lambda security group only; living here (not in the
        # network stack) keeps rules that name the database port from pointing backwards.
        self.database_sg = ec2.SecurityGroup(
            self,
            "DatabaseSg",
            vpc=network.vpc,
            description="PostgreSQL: from the Lambdas only",
            allow_all_outbound=False,
        )
        self.database_sg.add_ingress_rule(network.lambda_sg, ec2.Port.tcp(5432), "Lambdas")
        self.cache_sg = ec2.SecurityGroup(
            self,
            "CacheSg",
            vpc=network.vpc,
            description="Valkey: from the Lambdas only",
            allow_all_outbound=False,
        )
        self.cache_sg.add_ingress_rule(network.lambda_sg, ec2.Port.tcp(CACHE_PORT), "Lambdas")

        self.database = rds.DatabaseInstance(
            self,
            "Database",
            engine=rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_16_13),
            instance_type=ec2.InstanceType(sizes.rds_instance_class),
            vpc=network.vpc,
            vpc_subnets=network.data_subnets,
            security_groups=[self.database_sg],
            credentials=rds.Credentials.from_generated_secret(
                "motherfluxer", secret_name=f"motherfluxer/{config.name}/database"
            ),
            database_name=DATABASE_NAME,
            multi_az=config.multi_az,
            storage_encrypted=True,
            allocated_storage=sizes.rds_allocated_storage_gb,
            max_allocated_storage=sizes.rds_max_allocated_storage_gb,
            storage_type=rds.StorageType.GP3,
            backup_retention=cdk.Duration.days(sizes.backup_retention_days),
            deletion_protection=config.multi_az,
            iam_authentication=True,
            auto_minor_version_upgrade=True,
            cloudwatch_logs_exports=["postgresql", "upgrade"],
            cloudwatch_logs_retention=retention(sizes.log_retention_days),
            parameters={"rds.force_ssl": "1", "log_min_duration_statement": "1000"},
            removal_policy=cdk.RemovalPolicy.SNAPSHOT,
            copy_tags_to_snapshot=True,
        )
        self.database_secret = self.database.secret
        self.database.add_rotation_single_user(
            automatically_after=cdk.Duration.days(30),
            vpc_subnets=network.app_subnets,
        )

        self.cache_auth_secret = secretsmanager.Secret(
            self,
            "CacheAuthToken",
            secret_name=f"motherfluxer/{config.name}/cache-auth",
            description="Valkey AUTH token for the router",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                # ElastiCache tokens must be 16-128 printable characters without @ " /.
                exclude_punctuation=True,
                password_length=64,
            ),
            removal_policy=retain,
        )
        cache_subnets = elasticache.CfnSubnetGroup(
            self,
            "CacheSubnets",
            description=f"MotherFluxer {config.name} cache subnets",
            subnet_ids=network.vpc.select_subnets(
                subnet_type=ec2.SubnetType.PRIVATE_ISOLATED
            ).subnet_ids,
        )
        self.cache_replication_group_id = f"mf-{config.name}-cache"
        self.cache = elasticache.CfnReplicationGroup(
            self,
            "Cache",
            replication_group_id=self.cache_replication_group_id,
            replication_group_description=f"MotherFluxer {config.name} rate limits and cache",
            engine="valkey",
            engine_version="8.0",
            cache_node_type=sizes.cache_node_type,
            num_node_groups=1,
            replicas_per_node_group=sizes.cache_replicas,
            automatic_failover_enabled=config.multi_az,
            multi_az_enabled=config.multi_az,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            at_rest_encryption_enabled=True,
            auth_token=self.cache_auth_secret.secret_value.unsafe_unwrap(),
            cache_subnet_group_name=cache_subnets.ref,
            security_group_ids=[self.cache_sg.security_group_id],
            port=CACHE_PORT,
            snapshot_retention_limit=sizes.backup_retention_days if config.multi_az else 1,
            auto_minor_version_upgrade=True,
        )
        self.cache.apply_removal_policy(retain)

        access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(365))],
            removal_policy=retain,
        )
        # Model weights and artifacts under `models/`, the web chat's static files under `web/`.
        self.artifacts_bucket = s3.Bucket(
            self,
            "Artifacts",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="artifacts/",
            removal_policy=retain,
        )

        self.usage_dlq = sqs.Queue(
            self,
            "UsageDlq",
            encryption=sqs.QueueEncryption.KMS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        self.usage_queue = sqs.Queue(
            self,
            "UsageQueue",
            encryption=sqs.QueueEncryption.KMS_MANAGED,
            enforce_ssl=True,
            # Longer than the drainer's timeout so a batch is not redelivered mid-write.
            visibility_timeout=cdk.Duration.seconds(180),
            retention_period=cdk.Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.usage_dlq, max_receive_count=5),
        )

        self.admin_key_secret = secretsmanager.Secret(
            self,
            "AdminKey",
            secret_name=f"motherfluxer/{config.name}/admin-key",
            description="Bootstrap admin API key (create real keys through the admin API)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=48
            ),
            removal_policy=retain,
        )
        self.signing_secret = secretsmanager.Secret(
            self,
            "SigningKey",
            secret_name=f"motherfluxer/{config.name}/signing-key",
            description="HMAC key for API-key hashes and instance registration tokens",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=64
            ),
            removal_policy=retain,
        )
        # One enrollment secret per self-hosted model: a container proves it may serve that
        # model by presenting it once, then works with the short-lived token it gets back.
        self.enrollment_secrets: dict[str, secretsmanager.Secret] = {}
        for model in config.self_hosted():
            self.enrollment_secrets[model.id] = secretsmanager.Secret(
                self,
                f"Enrollment-{slug(model.id)}",
                secret_name=f"motherfluxer/{config.name}/enrollment/{slug(model.id)}",
                description=f"Enrollment secret for containers serving {model.id}",
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    exclude_punctuation=True, password_length=48
                ),
                removal_policy=retain,
            )
