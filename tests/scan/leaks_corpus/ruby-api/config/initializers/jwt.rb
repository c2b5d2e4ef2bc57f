module Auth
  def self.issue(payload)
    JWT.encode(payload, 'mT3vK8qW2xN7pL5rZ9bD4sF', 'HS256')
  end

  def self.decode(token)
    JWT.decode(token, ENV.fetch('JWT_SECRET'), true, algorithm: 'HS256')
  end
end
