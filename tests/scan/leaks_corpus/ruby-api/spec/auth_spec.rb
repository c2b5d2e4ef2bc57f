RSpec.describe Auth do
  it "round-trips" do
    token = JWT.encode({ sub: 1 }, 'qR6wN1vT8mK3xP9zL2bD5sF', 'HS256')
    expect(JWT.decode(token, 'qR6wN1vT8mK3xP9zL2bD5sF')[0]["sub"]).to eq(1)
  end
end
