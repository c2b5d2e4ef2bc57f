<?php
return [
    'mailgun' => [
        'api_key' => 'f3a9c2e8b7d14f6a9e0c5b2d8a7f1e3c',
        'domain' => 'mg.orders.io',
    ],
    'app_key' => env('APP_KEY'),
    'password_reset_ttl' => 60,
];
