"""Amazon's ask-sdk-model service clients against rask sim.

Environment: SIM_URL (a region's base URL), LWA_URL, CLIENT_ID, CLIENT_SECRET, USER_ID.
Prints one line per client; any exception fails the test.
"""
import os
from datetime import datetime, timedelta, timezone

from ask_sdk_core.api_client import DefaultApiClient
from ask_sdk_core.serialize import DefaultSerializer
from ask_sdk_model.services import ApiConfiguration, AuthenticationConfiguration
from ask_sdk_model.services.lwa import LwaClient
from ask_sdk_model.services.proactive_events import (
    CreateProactiveEventRequest, Event, ProactiveEventsServiceClient, RelevantAudience,
    RelevantAudienceType, SkillStage)
from ask_sdk_model.services.skill_messaging import (
    SendSkillMessagingRequest, SkillMessagingServiceClient)

auth = AuthenticationConfiguration(client_id=os.environ["CLIENT_ID"], client_secret=os.environ["CLIENT_SECRET"])
serializer, api_client = DefaultSerializer(), DefaultApiClient()
lwa = LwaClient(
    api_configuration=ApiConfiguration(serializer=serializer, api_client=api_client, api_endpoint=os.environ["LWA_URL"]),
    authentication_configuration=auth)
api = ApiConfiguration(serializer=serializer, api_client=api_client, api_endpoint=os.environ["SIM_URL"])

token = lwa.get_access_token_for_scope("alexa:skill_messaging")
assert token.startswith("Atc|"), token
print("lwa ok")

messaging = SkillMessagingServiceClient(api_configuration=api, authentication_configuration=auth, lwa_client=lwa)
messaging.send_skill_message(
    user_id=os.environ["USER_ID"],
    send_skill_messaging_request=SendSkillMessagingRequest(data={"reminder_id": "r-42"}, expires_after_seconds=3600))
print("messaging ok")

# Naive UTC datetimes, as in Amazon's own sample (datetime.utcnow()): the SDK writes them
# without an offset, and Amazon accepts them.
now = datetime.now(timezone.utc).replace(tzinfo=None)
proactive = ProactiveEventsServiceClient(api_configuration=api, authentication_configuration=auth, lwa_client=lwa)
proactive.create_proactive_event(
    create_proactive_event_request=CreateProactiveEventRequest(
        timestamp=now,
        reference_id="sdk-weather-1",
        expiry_time=now + timedelta(hours=1),
        event=Event(name="AMAZON.WeatherAlert.Activated",
                    payload={"weatherAlert": {"alertType": "SNOW_STORM", "source": "localizedattribute:source"}}),
        localized_attributes=[{"locale": "en-US", "source": "rask"}],
        relevant_audience=RelevantAudience(object_type=RelevantAudienceType.Multicast, payload={})),
    stage=SkillStage.DEVELOPMENT)
print("proactive ok")
