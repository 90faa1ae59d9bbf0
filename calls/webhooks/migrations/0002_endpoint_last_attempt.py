"""The latest attempt's outcome on the endpoint (for the endpoint list) and an index for one
endpoint's deliveries, newest first."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookendpoint",
            name="last_attempt_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="webhookendpoint",
            name="last_attempt_error",
            field=models.CharField(blank=True, max_length=300),
        ),
        migrations.AddField(
            model_name="webhookendpoint",
            name="last_attempt_status_code",
            field=models.PositiveSmallIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="webhookendpoint",
            name="last_attempt_succeeded",
            field=models.BooleanField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_endpoint"),
        ),
    ]
