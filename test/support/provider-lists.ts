/** A provider list with one provider whose ranges come from an SPF record, `_spf.testmail.example`; its written range is 198.51.100.0/24. */
export const TESTMAIL_PROVIDER_LIST = `providers:
  testmail:
    name: Test Mail
    user_agents: []
    ranges: ['198.51.100.0/24']
    spf: [_spf.testmail.example]
`;
