"""DynamoDB: moto's backend serialized, partitions packed at rest, item answers written directly."""
